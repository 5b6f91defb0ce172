#include "rsdat/stac.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "io/http_store.hpp"
#include "io/store.hpp"
#include "rsdat/raster.hpp"
#include "rsdat/shape.hpp"
#include "rsdat/zarr.hpp"

namespace rsdat::stac {
namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

// "scheme" of "scheme://...", lower-cased; "" for a path.
std::string scheme_of(const std::string& url) {
  const size_t p = url.find("://");
  if (p == std::string::npos || p == 0) return "";
  for (size_t i = 0; i < p; ++i) {
    const unsigned char c = static_cast<unsigned char>(url[i]);
    if (!std::isalnum(c) && c != '+' && c != '-' && c != '.') return "";
  }
  std::string s = url.substr(0, p);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Where the path of `url` starts: past "scheme://authority", 0 for a plain path.
size_t path_start(const std::string& url) {
  if (scheme_of(url).empty()) return 0;
  const size_t authority = url.find("://") + 3;
  const size_t slash = url.find('/', authority);
  return slash == std::string::npos ? url.size() : slash;
}

// "." and ".." segments of a path removed (RFC 3986 5.2.4); ".." never above the root.
std::string remove_dot_segments(const std::string& path) {
  const bool absolute = !path.empty() && path[0] == '/';
  std::vector<std::string> out;
  size_t start = absolute ? 1 : 0;
  bool trailing = false;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string seg = path.substr(start, end - start);
    trailing = end == path.size() && (seg == "." || seg == "..");
    if (seg == "..") {
      if (!out.empty() && out.back() != "..") {
        out.pop_back();
      } else if (!absolute) {
        out.push_back("..");
      }
    } else if (seg != "." && !(seg.empty() && end != path.size())) {
      out.push_back(seg);
    }
    start = end + 1;
  }
  std::string r = absolute ? "/" : "";
  for (size_t i = 0; i < out.size(); ++i) r += (i ? "/" : "") + out[i];
  if (trailing && !r.empty() && r.back() != '/') r += '/';
  return r;
}

// `href` resolved against the URL (or path) of the document that holds it.
std::string resolve(const std::string& base, const std::string& href) {
  if (href.empty()) return base;
  if (!scheme_of(href).empty()) return href;
  const size_t ps = path_start(base);
  const std::string prefix = base.substr(0, ps);
  std::string base_path = base.substr(ps);
  if (auto q = base_path.find_first_of("?#"); q != std::string::npos) base_path.resize(q);
  std::string path;
  if (href[0] == '/') {
    path = href;
  } else {
    const size_t slash = base_path.rfind('/');
    path = (slash == std::string::npos ? "" : base_path.substr(0, slash + 1)) + href;
  }
  std::string query;
  if (auto q = path.find_first_of("?#"); q != std::string::npos) {
    query = path.substr(q);
    path.resize(q);
  }
  std::string r = remove_dot_segments(path);
  if (r.empty()) r = ".";
  return prefix + r + query;
}

// The document at `url`, parsed.
json read_json(const std::string& url) {
  std::string text;
  const std::string scheme = scheme_of(url);
  const bool http = scheme == "http" || scheme == "https" || scheme == "dav" || scheme == "davs";
  if (http && url.find('?', path_start(url)) != std::string::npos) {
    auto r = store::http_fetch("GET", url, "", {"Accept: application/json, application/geo+json"});
    if (!r.ok()) fail("STAC document " + url + ": " + r.status().message());
    if (r->status != 200) fail("STAC document " + url + ": HTTP " + std::to_string(r->status) + " " + store::http_reason(r->status));
    text = std::string(r->body.view());
  } else {
    const size_t ps = path_start(url);
    const size_t slash = url.rfind('/');
    std::string dir, name;
    if (slash == std::string::npos || slash < ps) {
      if (ps) fail("STAC document " + url + " names no document");
      dir = ".";
      name = url;
    } else {
      dir = url.substr(0, slash);
      name = url.substr(slash + 1);
      if (dir.empty()) dir = "/";
      if (ps && dir.size() <= ps) dir = url.substr(0, ps) + "/";
    }
    if (ps) name = store::url_decode(name);
    auto st = store::open_store(dir);
    if (!st.ok()) fail("STAC document " + url + ": " + st.status().message());
    auto b = (*st)->get(name);
    if (!b.ok()) fail("STAC document " + url + ": " + b.status().message());
    text = std::string(b->view());
  }
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail("STAC document " + url + " is not valid JSON: " + e.what());
  }
}

std::vector<double> numbers(const json& j, const std::string& what) {
  std::vector<double> out;
  if (!j.is_array()) fail(what + " is not an array of numbers");
  for (const auto& v : j) {
    if (!v.is_number()) fail(what + " is not an array of numbers");
    out.push_back(v.get<double>());
  }
  return out;
}

void read_proj(const json& props, const std::string& where, std::optional<int64_t>* epsg,
               std::vector<double>* transform, std::vector<int64_t>* shape) {
  if (props.contains("proj:epsg") && !props["proj:epsg"].is_null()) {
    if (!props["proj:epsg"].is_number_integer()) fail(where + ": proj:epsg is not an integer");
    *epsg = props["proj:epsg"].get<int64_t>();
  }
  if (props.contains("proj:transform")) {
    *transform = numbers(props["proj:transform"], where + ": proj:transform");
    if (transform->size() != 6 && transform->size() != 9) fail(where + ": proj:transform has neither 6 nor 9 numbers");
  }
  if (props.contains("proj:shape")) {
    for (double d : numbers(props["proj:shape"], where + ": proj:shape")) {
      if (d < 1 || d != std::floor(d)) fail(where + ": proj:shape is not positive integers");
      shape->push_back(static_cast<int64_t>(d));
    }
    if (shape->size() != 2) fail(where + ": proj:shape is not [rows, columns]");
  }
}

Item parse_item(const json& j, const std::string& url) {
  Item it;
  it.url = url;
  const std::string where = "STAC item in " + url;
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) fail(where + " has no id");
  it.id = j["id"].get<std::string>();
  const std::string named = "STAC item " + it.id + " (" + url + ")";
  if (j.contains("collection") && j["collection"].is_string()) it.collection = j["collection"].get<std::string>();
  if (j.contains("bbox")) it.bbox = numbers(j["bbox"], named + ": bbox");
  if (!j.contains("properties") || !j["properties"].is_object()) fail(named + " has no properties");
  const json& p = j["properties"];
  if (p.contains("datetime") && p["datetime"].is_string()) {
    it.datetime = p["datetime"].get<std::string>();
  } else if (p.contains("start_datetime") && p["start_datetime"].is_string()) {
    it.datetime = p["start_datetime"].get<std::string>();
  } else {
    fail(named + " has neither datetime nor start_datetime");
  }
  try {
    it.time = parse_datetime(it.datetime);
  } catch (const std::invalid_argument& e) {
    fail(named + ": " + e.what());
  }
  if (p.contains("eo:cloud_cover") && !p["eo:cloud_cover"].is_null()) {
    if (!p["eo:cloud_cover"].is_number()) fail(named + ": eo:cloud_cover is not a number");
    it.cloud_cover = p["eo:cloud_cover"].get<double>();
  }
  read_proj(p, named, &it.epsg, &it.transform, &it.shape);
  if (j.contains("assets")) {
    if (!j["assets"].is_object()) fail(named + ": assets is not an object");
    for (auto a = j["assets"].begin(); a != j["assets"].end(); ++a) {
      const std::string aw = named + " asset " + a.key();
      if (!a.value().is_object() || !a.value().contains("href") || !a.value()["href"].is_string()) fail(aw + " has no href");
      Asset asset;
      asset.href = resolve(url, a.value()["href"].get<std::string>());
      if (a.value().contains("type") && a.value()["type"].is_string()) asset.type = a.value()["type"].get<std::string>();
      if (a.value().contains("roles") && a.value()["roles"].is_array()) {
        for (const auto& r : a.value()["roles"]) {
          if (r.is_string()) asset.roles.push_back(r.get<std::string>());
        }
      }
      read_proj(a.value(), aw, &asset.epsg, &asset.transform, &asset.shape);
      it.assets[a.key()] = std::move(asset);
    }
  }
  return it;
}

void collect(const std::string& url, std::set<std::string>& seen, std::vector<Item>& out) {
  if (!seen.insert(url).second) return;
  const json j = read_json(url);
  if (!j.is_object()) fail("STAC document " + url + " is not a JSON object");
  const std::string type = j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>() : "";
  if (type == "Feature") {
    out.push_back(parse_item(j, url));
    return;
  }
  if (type == "FeatureCollection") {
    if (!j.contains("features") || !j["features"].is_array()) fail("STAC item collection " + url + " has no features");
    for (const auto& f : j["features"]) out.push_back(parse_item(f, url));
    return;
  }
  if (type != "Catalog" && type != "Collection") {
    fail("STAC document " + url + " is of type '" + type + "' (want Catalog, Collection, FeatureCollection or Feature)");
  }
  if (!j.contains("links")) return;
  if (!j["links"].is_array()) fail("STAC " + type + " " + url + ": links is not an array");
  for (const auto& link : j["links"]) {
    if (!link.is_object() || !link.contains("rel") || !link.contains("href") || !link["href"].is_string()) continue;
    const std::string rel = link["rel"].is_string() ? link["rel"].get<std::string>() : "";
    if (rel == "child" || rel == "item") collect(resolve(url, link["href"].get<std::string>()), seen, out);
  }
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool is_zarr(const Asset& a) {
  std::string t = a.type;
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t.find("zarr") != std::string::npos) return true;
  if (!t.empty()) return false;
  std::string h = a.href;
  while (!h.empty() && h.back() == '/') h.pop_back();
  return h.size() >= 5 && h.compare(h.size() - 5, 5, ".zarr") == 0;
}

// A GeoTIFF (Cloud-Optimised or not) by its media type, else by its file name.
bool is_geotiff(const Asset& a) {
  std::string t = a.type;
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!t.empty()) return t.rfind("image/tiff", 0) == 0;
  std::string h = a.href;
  for (char& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto ends = [&h](const std::string& e) { return h.size() >= e.size() && h.compare(h.size() - e.size(), e.size(), e) == 0; };
  return ends(".tif") || ends(".tiff");
}

std::string grid_text(int64_t epsg, const std::vector<double>& transform, const std::vector<int64_t>& shape) {
  std::string s = "EPSG:" + std::to_string(epsg) + ", shape " + std::to_string(shape[0]) + "x" + std::to_string(shape[1]) +
                  ", transform [";
  for (size_t i = 0; i < transform.size() && i < 6; ++i) {
    char b[32];
    std::snprintf(b, sizeof b, "%s%.10g", i ? ", " : "", transform[i]);
    s += b;
  }
  return s + "]";
}

}  // namespace

int64_t parse_datetime(const std::string& s) {
  auto bad = [&]() -> int64_t { fail("'" + s + "' is not an RFC 3339 datetime"); };
  auto digits = [&](size_t at, size_t n) -> int64_t {
    if (at + n > s.size()) bad();
    int64_t v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) bad();
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  if (s.size() < 10 || s[4] != '-' || s[7] != '-') bad();
  const int64_t year = digits(0, 4), month = digits(5, 2), day = digits(8, 2);
  if (month < 1 || month > 12 || day < 1 || day > 31) bad();
  int64_t seconds = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400;
  int64_t nanos = 0;
  if (s.size() == 10) return seconds * 1000000000;
  if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s.size() < 19 || s[13] != ':' || s[16] != ':') bad();
  const int64_t hh = digits(11, 2), mm = digits(14, 2), ss = digits(17, 2);
  if (hh > 23 || mm > 59 || ss > 60) bad();
  seconds += hh * 3600 + mm * 60 + ss;
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int64_t scale = 100000000;
    const size_t from = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      if (scale > 0) nanos += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == from) bad();
  }
  if (i >= s.size()) bad();  // RFC 3339 requires the offset
  if (s[i] == 'Z' || s[i] == 'z') {
    if (i + 1 != s.size()) bad();
  } else if (s[i] == '+' || s[i] == '-') {
    if (i + 6 != s.size() || s[i + 3] != ':') bad();
    const int64_t off = digits(i + 1, 2) * 3600 + digits(i + 4, 2) * 60;
    seconds -= s[i] == '+' ? off : -off;
  } else {
    bad();
  }
  return seconds * 1000000000 + nanos;
}

std::vector<Item> read_items(const std::string& url) {
  std::set<std::string> seen;
  std::vector<Item> out;
  collect(url, seen, out);
  return out;
}

std::vector<Item> search(const std::string& api_url, const SearchOptions& options) {
  std::string base = api_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  json body = json::object();
  if (!options.bbox.empty()) {
    if (options.bbox.size() != 4 && options.bbox.size() != 6) fail("stac::search: bbox needs 4 (or 6) numbers");
    body["bbox"] = options.bbox;
  }
  if (!options.datetime.empty()) body["datetime"] = options.datetime;
  if (!options.collections.empty()) body["collections"] = options.collections;
  if (options.limit < 1) fail("stac::search: limit must be positive");
  body["limit"] = options.limit;
  std::string method = "POST", url = base + "/search";
  std::vector<Item> out;
  std::set<std::string> asked;
  while (true) {
    const std::string request = method + " " + url + " " + (method == "POST" ? body.dump() : "");
    if (!asked.insert(request).second) fail("stac::search: " + url + " links back to a page already read");
    auto r = store::http_fetch(method, url, method == "POST" ? body.dump() : "",
                               {"Content-Type: application/json", "Accept: application/geo+json, application/json"});
    if (!r.ok()) fail("stac::search: " + r.status().message());
    if (r->status != 200) {
      std::string m = "stac::search: " + method + " " + url + ": HTTP " + std::to_string(r->status);
      if (*store::http_reason(r->status)) m += std::string(" ") + store::http_reason(r->status);
      fail(m);
    }
    json page;
    try {
      page = json::parse(r->body.view());
    } catch (const json::exception&) {
      fail("stac::search: " + url + " answered with no JSON");
    }
    if (!page.is_object() || !page.contains("features") || !page["features"].is_array()) {
      fail("stac::search: " + url + " answered with no FeatureCollection");
    }
    for (const auto& f : page["features"]) {
      out.push_back(parse_item(f, url));
      if (options.max_items >= 0 && static_cast<int64_t>(out.size()) >= options.max_items) return out;
    }
    const json* next = nullptr;
    if (page.contains("links") && page["links"].is_array()) {
      for (const auto& link : page["links"]) {
        if (link.is_object() && link.value("rel", "") == "next" && link.contains("href") && link["href"].is_string()) next = &link;
      }
    }
    if (!next || page["features"].empty()) return out;
    url = resolve(url, (*next)["href"].get<std::string>());
    method = next->contains("method") && (*next)["method"].is_string() ? (*next)["method"].get<std::string>() : "GET";
    if (method != "GET" && method != "POST") fail("stac::search: a next link of " + url + " asks for " + method);
    if (method == "POST" && next->contains("body") && (*next)["body"].is_object()) {
      if (next->value("merge", false)) {
        body.update((*next)["body"]);
      } else {
        body = (*next)["body"];
      }
    }
  }
}

Stack stack(const std::vector<Item>& items, const std::vector<std::string>& assets, const StackOptions& options) {
  if (options.xy_coords != "topleft" && options.xy_coords != "center") {
    fail("stac::stack: xy_coords must be \"topleft\" or \"center\", not \"" + options.xy_coords + "\"");
  }
  const int64_t start = options.start_datetime.empty() ? INT64_MIN : parse_datetime(options.start_datetime);
  const int64_t end = options.end_datetime.empty() ? INT64_MAX : parse_datetime(options.end_datetime);
  std::vector<const Item*> kept;
  for (const Item& it : items) {
    if (options.max_cloud_cover && !(it.cloud_cover && *it.cloud_cover <= *options.max_cloud_cover)) continue;
    if (it.time < start || it.time > end) continue;
    kept.push_back(&it);
  }
  if (kept.empty()) fail("stac::stack: no item is left of " + std::to_string(items.size()) + " after filtering");
  std::stable_sort(kept.begin(), kept.end(), [](const Item* a, const Item* b) { return a->time < b->time; });
  Stack s;
  s.band = assets;
  if (s.band.empty()) {
    for (const auto& [key, a] : kept.front()->assets) s.band.push_back(key);
    if (s.band.empty()) fail("stac::stack: item " + kept.front()->id + " has no assets");
  }
  // The grid of every (item, asset): the asset's proj fields over the item's.
  struct Grid {
    int64_t epsg;
    std::vector<double> transform;
    std::vector<int64_t> shape;
    bool operator==(const Grid&) const = default;
  };
  auto grid_of = [&](const Item& it, const std::string& key) {
    auto a = it.assets.find(key);
    if (a == it.assets.end()) fail("stac::stack: item " + it.id + " (" + it.url + ") has no asset '" + key + "'");
    Grid g{a->second.epsg ? *a->second.epsg : it.epsg.value_or(0),
           !a->second.transform.empty() ? a->second.transform : it.transform,
           !a->second.shape.empty() ? a->second.shape : it.shape};
    if (!g.epsg || g.transform.empty() || g.shape.empty()) {
      fail("stac::stack: item " + it.id + " asset " + key + " lacks proj:epsg, proj:transform or proj:shape");
    }
    if (g.transform.size() == 9) g.transform.resize(6);
    return g;
  };
  const Grid first = grid_of(*kept.front(), s.band.front());
  std::vector<std::string> differ;
  for (const Item* it : kept) {
    for (const std::string& key : s.band) {
      if (!(grid_of(*it, key) == first)) {
        differ.push_back(it->id + (s.band.size() > 1 ? "/" + key : "") + " (" +
                         grid_text(grid_of(*it, key).epsg, grid_of(*it, key).transform, grid_of(*it, key).shape) + ")");
      }
    }
  }
  if (!differ.empty()) {
    std::string m = "stac::stack: items do not share a grid: ";
    for (size_t i = 0; i < differ.size() && i < 5; ++i) m += (i ? ", " : "") + differ[i];
    if (differ.size() > 5) m += " and " + std::to_string(differ.size() - 5) + " more";
    fail(m + " differ from " + kept.front()->id + " (" + grid_text(first.epsg, first.transform, first.shape) + ")");
  }
  if (first.transform[1] != 0 || first.transform[3] != 0) {
    fail("stac::stack: item " + kept.front()->id + " has a rotated grid (proj:transform b or d not 0), which is not read yet");
  }
  std::vector<Array> steps;
  for (const Item* it : kept) {
    std::vector<Array> bands;
    for (const std::string& key : s.band) {
      const Asset& a = it->assets.at(key);
      const bool tiff = is_geotiff(a);
      if (!tiff && !is_zarr(a)) {
        fail("stac::stack: item " + it->id + " asset " + key + " is of media type '" + a.type +
             "'; Zarr and GeoTIFF (COG) assets are read, others not yet");
      }
      Array band;
      try {
        // A GeoTIFF asset is one band: its first, with the stored values (as stackstac
        // reads them, the nodata value kept).
        band = tiff ? squeeze(from_raster(a.href, {.masked = false, .bands = {1}}), std::vector<int64_t>{0})
                    : from_zarr(a.href);
      } catch (const std::exception& e) {
        fail("stac::stack: item " + it->id + " asset " + key + ": " + e.what());
      }
      if (band.shape() != Shape{first.shape[0], first.shape[1]}) {
        fail("stac::stack: item " + it->id + " asset " + key + " (" + a.href + ") has shape " + shape_to_string(band.shape()) +
             ", not its proj:shape " + shape_to_string(Shape{first.shape[0], first.shape[1]}));
      }
      bands.push_back(band);
    }
    steps.push_back(rsdat::stack(bands, 0));
    s.time.push_back(it->time);
    s.datetime.push_back(it->datetime);
    s.id.push_back(it->id);
  }
  s.data = rsdat::stack(steps, 0);
  s.epsg = first.epsg;
  s.crs = "EPSG:" + std::to_string(first.epsg);
  s.transform = first.transform;
  const double half = options.xy_coords == "center" ? 0.5 : 0.0;
  for (int64_t i = 0; i < first.shape[0]; ++i) s.y.push_back(first.transform[5] + first.transform[4] * (i + half));
  for (int64_t j = 0; j < first.shape[1]; ++j) s.x.push_back(first.transform[2] + first.transform[0] * (j + half));
  return s;
}

}  // namespace rsdat::stac
