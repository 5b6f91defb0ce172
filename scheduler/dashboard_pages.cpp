#include "scheduler/dashboard_pages.hpp"

#include "core/task_stream_script.hpp"

namespace rsdat::sched {

namespace {

constexpr const char* kHead = R"html(<!doctype html>
<html><head><meta charset="utf-8"><title>rsdat: @TITLE@</title>
<style>
body{font:14px system-ui,sans-serif;margin:1em 1.5em;color:#222}
nav{margin-bottom:.8em}nav a{margin-right:1em;color:#246;text-decoration:none}nav a.here{font-weight:bold;color:#000}
table{border-collapse:collapse}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child,td:nth-child(2){text-align:left}
.bar{display:inline-block;height:.8em;background:#4a8;vertical-align:middle}.over{background:#c64}
#summary{margin:.3em 0 1em;color:#444}
.track{display:inline-flex;width:480px;height:1.1em;background:#eee;vertical-align:middle;overflow:hidden}
.track span{display:block;height:100%}
.released{background:#9cd3a8}.memory{background:#2a7a3a}.erred{background:#c0302a}.processing{background:#e0b030}.waiting{background:#ddd}
.managed{background:#3b6fb6}.unmanaged{background:#9bb8e0}.spilled{background:#999}
.legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}
svg text{font:11px system-ui,sans-serif}
.paused{color:#c0302a}
</style></head><body>
<nav><b>rsdat</b> &nbsp; <a href="workers" id="nav-workers">Workers</a><a href="tasks" id="nav-tasks">Task stream</a><a href="progress" id="nav-progress">Progress</a><a href="memory" id="nav-memory">Memory</a><a href="graph" id="nav-graph">Graph</a></nav>
<h2>@TITLE@</h2><div id="summary">connecting...</div><div id="view"></div>
)html";

// Shared by every page: VIEW names the page; draw[VIEW] renders its JSON.
constexpr const char* kScript = R"js(
const $=id=>document.getElementById(id);
$('nav-'+VIEW).className='here';
let windowSeconds=60;
const palette=['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf'];
const draw={};
// The task stream polls for what is new ("after" the last answer's "next") and keeps
// the events of the window itself, on the scheduler's clock.
let stream={next:0,events:[],workers:{}};
const urls={workers:()=>'status.json',tasks:()=>'api/task-stream.json?seconds='+windowSeconds+'&after='+stream.next,
  progress:()=>'api/progress.json',memory:()=>'api/memory.json',graph:()=>'api/graph.json'};

draw.workers=function(s){
  $('summary').textContent=s.workers.length+' workers, '+s.threads+' threads, '+s.tasks+' tasks held, '+s.processing+
    ' processing, '+s.tasks_finished+' finished, '+fmt(s.bytes_transferred)+' moved between workers, '+s.retiring+
    ' retiring, '+s.malformed_messages+' malformed messages refused';
  let h='<table id="workers"><thead><tr><th>worker</th><th>address</th><th>threads</th><th>tasks</th><th>chunks</th>'+
    '<th>CPU</th><th>memory</th><th>limit</th><th></th><th>spilled</th><th>network in</th><th>network out</th><th>state</th></tr></thead><tbody>';
  for(const w of s.workers){
    const f=w.memory_limit?Math.min(1,w.rss_bytes/w.memory_limit):0;
    h+='<tr class="worker" data-name="'+esc(w.name)+'"><td>'+esc(w.name)+'</td><td>'+esc(w.address)+'</td><td>'+w.nthreads+
      '</td><td>'+w.processing+'</td><td>'+w.keys+'</td><td class="cpu">'+(100*w.cpu).toFixed(0)+' %</td><td>'+fmt(w.rss_bytes)+
      '</td><td>'+fmt(w.memory_limit)+'</td><td><span class="bar'+(f>0.8?' over':'')+'" style="width:'+Math.round(f*120)+
      'px"></span></td><td>'+fmt(w.spilled_bytes)+'</td><td class="net-in" title="'+w.network_in_bytes+' bytes">'+
      fmt(w.network_in_bytes)+' ('+fmt(w.network_in_rate)+'/s)</td><td class="net-out" title="'+w.network_out_bytes+' bytes">'+
      fmt(w.network_out_bytes)+' ('+fmt(w.network_out_rate)+'/s)</td><td class="state">'+
      (w.paused?'<span class="paused">paused: '+esc(w.pause_reason||'memory')+'</span>':'running')+'</td></tr>';
  }
  $('view').innerHTML=h+'</tbody></table>';
};

draw.tasks=function(a){
  for(const e of a.events){e[4]+=a.clock;e[5]+=a.clock;stream.events.push(e)}
  for(const w of a.workers)stream.workers[w.id]=w;
  stream.next=a.next;
  stream.events=stream.events.filter(e=>e[5]>=a.clock-a.window).slice(-20000);
  const seen={};for(const e of stream.events)seen[e[0]]=1;
  const ev=stream.events.map(e=>[e[0],e[1],e[2],e[3],e[4]-a.clock,e[5]-a.clock,e[6],e[7]]);
  const d={events:ev,ops:a.ops,kinds:a.kinds,window:a.window,truncated:a.truncated,
    workers:Object.values(stream.workers).filter(w=>seen[w.id]||a.workers.some(x=>x.id==w.id))};
  let t0=0;for(const e of ev)t0=Math.min(t0,e[4]);
  t0=Math.max(t0,-d.window);const span=Math.max(-t0,1e-3);
  const {svg:s,legend:leg,n}=streamSvg({events:ev,ops:d.ops,kinds:d.kinds,workers:d.workers,t0:t0,t1:0});
  $('summary').innerHTML=n+' tasks on '+d.workers.length+' workers over the last '+secs(span)+(d.truncated?' (the newest only)':'')+
    ' &nbsp; window: <select id="window">'+[10,60,300].map(v=>'<option'+(v==windowSeconds?' selected':'')+'>'+v+'</option>').join('')+'</select> s';
  $('window').onchange=e=>{windowSeconds=+e.target.value;stream={next:0,events:[],workers:{}};tick()};
  $('view').innerHTML=leg+s;
};

draw.progress=function(d){
  const seg=(cls,n,total)=>n>0?'<span class="'+cls+'" style="width:'+(100*n/total).toFixed(2)+'%" title="'+cls+' '+n+'"></span>':'';
  let h='<div class="legend"><span><i class="released"></i>done, released</span><span><i class="memory"></i>in memory</span>'+
    '<span><i class="erred"></i>erred</span><span><i class="processing"></i>processing</span><span><i class="waiting"></i>waiting</span></div><table id="arrays">';
  let done=0,total=0;
  for(const a of d.arrays){
    const t=Math.max(a.total,1),released=Math.max(0,a.finished-a.memory);
    done+=Math.min(a.finished,a.total);total+=a.total;
    h+='<tr class="array" data-op="'+esc(a.name)+'" data-done="'+a.finished+'" data-total="'+a.total+'"><td>'+esc(a.name)+
      '</td><td>'+a.finished+' / '+a.total+(a.erred?', '+a.erred+' erred':'')+'</td><td><span class="track">'+seg('released',released,t)+
      seg('memory',a.memory,t)+seg('erred',a.erred,t)+seg('processing',a.processing,t)+seg('waiting',a.waiting,t)+'</span></td></tr>';
  }
  $('summary').textContent=d.arrays.length+' arrays, '+done+' of '+total+' tasks done';
  $('view').innerHTML=h+'</table>';
};

draw.memory=function(d){
  let max=1;for(const w of d.workers)max=Math.max(max,w.memory_limit,w.managed+w.unmanaged+w.spilled);
  const px=b=>(480*b/max).toFixed(1);
  let h='<div class="legend"><span><i class="managed"></i>managed</span><span><i class="unmanaged"></i>unmanaged</span><span><i class="spilled"></i>spilled</span><span>| limit</span></div><table id="memory">';
  for(const w of d.workers){
    h+='<tr class="worker-memory" data-name="'+esc(w.name)+'"><td>'+esc(w.name)+'</td><td>'+fmt(w.managed)+' + '+fmt(w.unmanaged)+
      ' + '+fmt(w.spilled)+' spilled of '+(w.memory_limit?fmt(w.memory_limit):'no limit')+'</td><td><span class="track" style="position:relative">'+
      '<span class="managed" style="width:'+px(w.managed)+'px"></span><span class="unmanaged" style="width:'+px(w.unmanaged)+'px"></span>'+
      '<span class="spilled" style="width:'+px(w.spilled)+'px"></span>'+(w.memory_limit?'<span class="limit" style="position:absolute;left:'+Math.min(478,px(w.memory_limit))+
      'px;width:2px;background:#c0302a"></span>':'')+'</span></td></tr>';
  }
  h+='</table><h3>Memory over time (managed + unmanaged)</h3>';
  const W=720,H=220,L=60;let tmin=0,ymax=1;
  for(const w of d.workers){for(const t of w.history.t)tmin=Math.min(tmin,t);for(let i=0;i<w.history.t.length;i++)
    ymax=Math.max(ymax,w.history.managed[i]+w.history.unmanaged[i],w.memory_limit)}
  const span=Math.max(-tmin,1),X=t=>L+(t-tmin)/span*(W-L-10),Y=v=>H-20-(v/ymax)*(H-30);
  let s='<svg id="history" width="'+W+'" height="'+H+'"><line x1="'+L+'" x2="'+W+'" y1="'+Y(0)+'" y2="'+Y(0)+'" stroke="#888"/>'+
    '<text x="2" y="'+(Y(ymax)+4)+'">'+fmt(ymax)+'</text><text x="2" y="'+Y(0)+'">0</text><text x="'+L+'" y="'+(H-4)+'">'+
    tmin.toFixed(0)+' s</text><text x="'+(W-30)+'" y="'+(H-4)+'">now</text>';
  d.workers.forEach((w,k)=>{
    const c=palette[k%palette.length],p=w.history.t.map((t,i)=>X(t).toFixed(1)+','+Y(w.history.managed[i]+w.history.unmanaged[i]).toFixed(1)).join(' ');
    if(w.memory_limit)s+='<line x1="'+L+'" x2="'+W+'" y1="'+Y(w.memory_limit)+'" y2="'+Y(w.memory_limit)+'" stroke="'+c+'" stroke-dasharray="4 3"/>';
    s+='<polyline class="series" data-name="'+esc(w.name)+'" fill="none" stroke="'+c+'" stroke-width="2" points="'+p+'"><title>'+esc(w.name)+'</title></polyline>'+
      '<text x="'+(W-60)+'" y="'+(14+12*k)+'" fill="'+c+'">'+esc(w.name)+'</text>';
  });
  let total=0,spilled=0;for(const w of d.workers){total+=w.managed+w.unmanaged;spilled+=w.spilled}
  $('summary').textContent=d.workers.length+' workers, '+fmt(total)+' in memory, '+fmt(spilled)+' spilled';
  $('view').innerHTML=h+s+'</svg>';
};

draw.graph=function(d){
  const by={};for(const a of d.arrays)by[a.token]=a;
  const layer={};const depth=a=>{if(layer[a.token]!==undefined)return layer[a.token];layer[a.token]=0;let l=0;
    for(const t of a.deps)if(by[t])l=Math.max(l,depth(by[t])+1);return layer[a.token]=l};
  const cols=[];for(const a of d.arrays){const l=depth(a);(cols[l]=cols[l]||[]).push(a)}
  const BW=150,BH=34,GX=60,GY=14,pos={};
  cols.forEach((c,l)=>c.forEach((a,i)=>pos[a.token]=[10+l*(BW+GX),10+i*(BH+GY)]));
  const W=20+cols.length*(BW+GX),H=20+Math.max(1,...cols.map(c=>c.length))*(BH+GY);
  const fill={done:'#d9d9d9',memory:'#7cc28a',processing:'#f0c850',waiting:'#fff',erred:'#e06a64'};
  let s='<svg id="graph" width="'+W+'" height="'+H+'">',edges=0;
  for(const a of d.arrays)for(const t of a.deps)if(pos[t]){const [x1,y1]=pos[t],[x2,y2]=pos[a.token];edges++;
    s+='<path class="edge" d="M'+(x1+BW)+','+(y1+BH/2)+' C'+(x1+BW+GX/2)+','+(y1+BH/2)+' '+(x2-GX/2)+','+(y2+BH/2)+' '+x2+','+(y2+BH/2)+
      '" fill="none" stroke="#888"/>'}
  for(const a of d.arrays){const [x,y]=pos[a.token];
    s+='<g class="node" data-op="'+esc(a.name)+'" data-state="'+a.state+'"><rect x="'+x+'" y="'+y+'" width="'+BW+'" height="'+BH+
      '" rx="4" fill="'+fill[a.state]+'" stroke="#555"/><text x="'+(x+6)+'" y="'+(y+14)+'">'+esc(a.name)+'</text><text x="'+(x+6)+'" y="'+(y+28)+
      '">'+a.finished+'/'+a.total+' '+a.state+'</text><title>'+esc(a.name)+' '+a.token+': '+a.state+'</title></g>'}
  $('summary').textContent=d.arrays.length+' arrays, '+edges+' dependencies';
  $('view').innerHTML='<div class="legend">'+Object.keys(fill).map(k=>'<span><i style="background:'+fill[k]+';border:1px solid #555"></i>'+k+'</span>').join('')+'</div>'+s+'</svg>';
};

let busy=false;
async function tick(){
  if(busy)return;busy=true;
  try{
    const r=await fetch(urls[VIEW](),{cache:'no-store'});
    if(!r.ok)throw new Error('HTTP '+r.status);
    draw[VIEW](await r.json());
    document.body.dataset.updated=Date.now();
  }catch(e){$('summary').textContent='scheduler not reachable: '+e}
  busy=false;
}
tick();setInterval(tick,1000);
)js";

std::string page(const std::string& view, const std::string& title) {
  std::string head = kHead;
  for (size_t at; (at = head.find("@TITLE@")) != std::string::npos;) head.replace(at, 7, title);
  return head + "<script>const VIEW='" + view + "';" + task_stream_script() + kScript + "</script></body></html>\n";
}

}  // namespace

const std::vector<DashboardPage>& dashboard_pages() {
  static const std::vector<DashboardPage> pages = {
      {{"/", "/workers"}, page("workers", "Workers")},
      {{"/tasks"}, page("tasks", "Task stream")},
      {{"/progress"}, page("progress", "Progress")},
      {{"/memory"}, page("memory", "Memory")},
      {{"/graph"}, page("graph", "Graph")},
  };
  return pages;
}

}  // namespace rsdat::sched
