#include "scheduler/dashboard.hpp"

#include <httplib.h>
#include <cstdio>
#include <stdexcept>

#include <array>

namespace rsdat::sched {

namespace {

// The page: a table of workers from /status.json, refreshed every second.
constexpr const char* kPage = R"html(<!doctype html>
<html><head><meta charset="utf-8"><title>rsdat dashboard</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child,td:nth-child(2){text-align:left}
.bar{display:inline-block;height:.7em;background:#4a8}.over{background:#c64}
#summary{margin:.5em 0 1em}
</style></head><body>
<h2>rsdat scheduler</h2><div id="summary">connecting...</div>
<table><thead><tr><th>worker</th><th>address</th><th>threads</th><th>tasks</th><th>chunks</th>
<th>memory</th><th>limit</th><th></th><th>spilled</th></tr></thead><tbody id="workers"></tbody></table>
<script>
function fmt(b){const u=['B','KiB','MiB','GiB','TiB'];let i=0;while(b>=1024&&i<4){b/=1024;i++}return b.toFixed(i?1:0)+' '+u[i]}
async function tick(){
  try{
    const r=await fetch('status.json',{cache:'no-store'});const s=await r.json();
    document.getElementById('summary').textContent=
      s.workers.length+' workers, '+s.threads+' threads, '+s.tasks+' tasks held, '+s.processing+' processing, '+
      fmt(s.bytes_transferred)+' moved between workers, '+s.retiring+' retiring, '+s.malformed_messages+' malformed messages refused';
    document.getElementById('workers').innerHTML=s.workers.map(w=>{
      const f=w.memory_limit?Math.min(1,w.rss_bytes/w.memory_limit):0;
      return '<tr><td>'+w.name+'</td><td>'+w.address+'</td><td>'+w.nthreads+'</td><td>'+w.processing+'</td><td>'+w.keys+
        '</td><td>'+fmt(w.rss_bytes)+'</td><td>'+fmt(w.memory_limit)+'</td><td><span class="bar'+(f>0.8?' over':'')+
        '" style="width:'+Math.round(f*120)+'px"></span></td><td>'+fmt(w.spilled_bytes)+'</td></tr>'}).join('');
  }catch(e){document.getElementById('summary').textContent='scheduler not reachable: '+e}
}
tick();setInterval(tick,1000);
</script></body></html>
)html";

std::string new_token() {
  std::array<unsigned char, 20> raw{};
  if (FILE* f = std::fopen("/dev/urandom", "rb")) {
    size_t n = std::fread(raw.data(), 1, raw.size(), f);
    std::fclose(f);
    if (n != raw.size()) throw std::runtime_error("cannot read /dev/urandom");
  } else {
    throw std::runtime_error("cannot open /dev/urandom");
  }
  static const char* hex = "0123456789abcdef";
  std::string token;
  for (unsigned char b : raw) {
    token.push_back(hex[b >> 4]);
    token.push_back(hex[b & 15]);
  }
  return token;
}

}  // namespace

Dashboard::Dashboard() : server_(std::make_unique<httplib::Server>()), token_(new_token()) {}

Dashboard::~Dashboard() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

Status Dashboard::start(const std::string& host, int port, bool metrics_public) {
  auto authorized = [this](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") == "Bearer " + token_) return true;
    if (req.get_param_value("token") == token_) {
      res.set_header("Set-Cookie", "rsdat_token=" + token_ + "; HttpOnly; SameSite=Strict; Path=/");
      return true;
    }
    if (req.get_header_value("Cookie").find("rsdat_token=" + token_) != std::string::npos) return true;
    res.status = 401;
    res.set_content("rsdat dashboard: open the address in the scheduler file (it carries the token)\n", "text/plain");
    return false;
  };
  server_->Get("/", [authorized](const httplib::Request& req, httplib::Response& res) {
    if (authorized(req, res)) res.set_content(kPage, "text/html; charset=utf-8");
  });
  server_->Get("/status.json", [this, authorized](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    std::lock_guard lock(mu_);
    res.set_content(status_, "application/json");
  });
  server_->Get("/metrics", [this, authorized, metrics_public](const httplib::Request& req, httplib::Response& res) {
    if (!metrics_public && !authorized(req, res)) return;
    std::lock_guard lock(mu_);
    res.set_content(metrics_, "text/plain; version=0.0.4; charset=utf-8");
  });
  host_ = host;
  port_ = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (port_ < 0) return unavailable("dashboard cannot bind " + host + ":" + std::to_string(port));
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return Status::ok();
}

std::string Dashboard::url() const {
  return "http://" + host_ + ":" + std::to_string(port_) + "/?token=" + token_;
}

std::string Dashboard::metrics_url() const {
  return "http://" + host_ + ":" + std::to_string(port_) + "/metrics";
}

void Dashboard::publish(std::string status_json, std::string metrics_text) {
  std::lock_guard lock(mu_);
  status_ = std::move(status_json);
  metrics_ = std::move(metrics_text);
}

}  // namespace rsdat::sched
