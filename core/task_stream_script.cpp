#include "core/task_stream_script.hpp"

namespace rsdat {

const char* task_stream_script() {
  return R"js(
function fmt(b){const u=['B','KiB','MiB','GiB','TiB'];let i=0;b=+b||0;while(b>=1024&&i<4){b/=1024;i++}return b.toFixed(i?1:0)+' '+u[i]}
function esc(s){return String(s).replace(/[&<>"']/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]))}
function secs(s){return s<1e-3?(s*1e6).toFixed(0)+' us':s<1?(s*1e3).toFixed(1)+' ms':s.toFixed(2)+' s'}
function colour(name){let h=7;for(const c of String(name))h=(h*31+c.charCodeAt(0))>>>0;return 'hsl('+(h%360)+',62%,'+(45+(h>>9)%20)+'%)'}
function streamSvg(d){
  const ev=d.events,W=d.width||960,left=130,mark=d.mark||new Set();
  // Lanes: each worker's threads, its event loop (tiny tasks) and spills when used.
  const lanes=[],laneOf={};
  const used={};for(const e of ev)used[e[0]+':'+(e[2]>=3?'s':e[1])]=1;
  for(const w of d.workers){
    if(used[w.id+':0'])lanes.push([w.id+':0',w.name+' loop']);
    for(let t=1;t<=w.nthreads;t++)lanes.push([w.id+':'+t,w.name+' thread '+t]);
    for(const k in used)if(k.startsWith(w.id+':')&&!(k.split(':')[1]<=w.nthreads)&&k.split(':')[1]!='s')lanes.push([k,w.name+' thread '+k.split(':')[1]]);
    if(used[w.id+':s'])lanes.push([w.id+':s',w.name+' spill']);
  }
  lanes.forEach((l,i)=>laneOf[l[0]]=i);
  const lane=lanes.length>24?14:22;
  const t0=d.t0,span=Math.max(d.t1-d.t0,1e-3);
  const x=t=>left+(t-t0)/span*(W-left-10);
  const H=lanes.length*lane+30;
  let s='<svg id="stream" width="'+W+'" height="'+H+'" viewBox="0 0 '+W+' '+H+'">';
  lanes.forEach((l,i)=>{s+='<text x="2" y="'+(i*lane+lane/2+4)+'">'+esc(l[1])+'</text><line x1="'+left+'" x2="'+W+'" y1="'+(i*lane+lane)+
    '" y2="'+(i*lane+lane)+'" stroke="#eee"/>'});
  const counts={};let n=0;
  ev.forEach((e,j)=>{
    const k=e[0]+':'+(e[2]>=3?'s':e[1]);const i=laneOf[k];if(i===undefined)return;
    const kind=d.kinds[e[2]],op=e[2]>=3?kind:(d.ops[e[3]]||'?');
    const x0=x(Math.max(e[4],t0)),w=Math.max(e[2]==2?2:1,x(e[5])-x0);
    const fill=kind=='compute'?colour(op):kind=='error'?'#000':kind=='transfer'?'#e0302a':'#f08c00';
    const what=kind=='compute'?op+' chunk '+e[7]+', '+secs(e[5]-e[4])+', '+fmt(e[6]):
      kind=='error'?op+' chunk '+e[7]+' failed':kind=='transfer'?'fetched '+fmt(e[6])+' for '+op+' chunk '+e[7]:kind+' '+fmt(e[6])+', '+secs(e[5]-e[4]);
    s+='<rect class="'+kind+(mark.has(j)?' critical':'')+'" data-op="'+esc(op)+'" x="'+x0.toFixed(1)+'" y="'+(i*lane+2+(kind=='transfer'?0:2))+'" width="'+w.toFixed(1)+
      '" height="'+(kind=='transfer'?lane-2:lane-6)+'" fill="'+fill+'"'+(mark.has(j)?' stroke="#000" stroke-width="2"':'')+'><title>'+esc(what)+'</title></rect>';
    if(kind=='compute'){counts[op]=(counts[op]||0)+1;n++}
  });
  for(let k=0;k<=4;k++){const t=t0+span*k/4;s+='<text x="'+(x(t)-20)+'" y="'+(H-5)+'">'+(t.toFixed(span<2?3:1))+' s</text>'}
  s+='</svg>';
  let leg='<div class="legend">';for(const op in counts)leg+='<span class="op" data-op="'+esc(op)+'"><i style="background:'+colour(op)+
    '"></i>'+esc(op)+' ('+counts[op]+')</span>';
  leg+='<span><i style="background:#e0302a"></i>transfer</span><span><i style="background:#f08c00"></i>spill</span><span><i style="background:#000"></i>error</span>'+
    (mark.size?'<span><i style="border:2px solid #000"></i>critical path</span>':'')+'</div>';
  return {svg:s,legend:leg,n:n};
}
)js";
}

}  // namespace rsdat
