// STAC catalogs as lazy arrays: the items of a static catalog or of a STAC API search,
// stacked into one (time, band, y, x) array as stackstac does.
//
//   auto items = rsdat::stac::read_items("davs://dcache.example.org:2880/pnfs/s2/catalog.json");
//   auto s = rsdat::stac::stack(items, {"B04", "B08"}, {.max_cloud_cover = 20});
//   rsdat::Array composite = s.data.max({0});  // (band, y, x); s.time, s.band, s.y, s.x, s.crs alongside
//
//   auto found = rsdat::stac::search("https://stac.example.org/v1",
//                                    {.bbox = {4.8, 52.3, 5.0, 52.4}, .datetime = "2021-06-01/2021-08-31",
//                                     .collections = {"sentinel-2-l2a"}});
//
// Documents are read from any store URL (a directory, http(s)://, dav(s)://, s3://)
// with the stores' credentials, limits and retries (rsdat/store.hpp), in the calling
// process. Relative hrefs are resolved against the URL of the document that holds
// them (RFC 3986). Assets are Zarr arrays (read with from_zarr) or (Cloud-Optimised)
// GeoTIFFs (read with from_raster, band 1); other media types are refused with an
// error naming the item and asset.
// Everything here throws std::invalid_argument naming the document's URL (never a
// credential) for a missing, unreadable or malformed document. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rsdat/array.hpp"

namespace rsdat::stac {

struct Asset {
  std::string href;                // absolute: resolved against its item's document
  std::string type;                // media type, "" when not given
  std::vector<std::string> roles;
  // proj:epsg / proj:transform / proj:shape of the asset, where it overrides the item's
  std::optional<int64_t> epsg;
  std::vector<double> transform;
  std::vector<int64_t> shape;
};

struct Item {
  std::string id;
  std::string collection;          // "" when not given
  std::string url;                 // the document it was read from
  std::string datetime;            // as written (start_datetime when datetime is null)
  int64_t time = 0;                // datetime in nanoseconds since 1970-01-01T00:00:00Z
  std::vector<double> bbox;
  std::optional<double> cloud_cover;  // eo:cloud_cover
  std::optional<int64_t> epsg;        // proj:epsg
  std::vector<double> transform;      // proj:transform: a, b, c, d, e, f[, 0, 0, 1]
  std::vector<int64_t> shape;         // proj:shape: rows, columns
  std::map<std::string, Asset> assets;
};

// The items of the STAC document at `url`: an Item, a FeatureCollection (an item
// collection), or a Catalog or Collection whose "child" and "item" links are followed
// recursively (each document read once), in the order of the links.
std::vector<Item> read_items(const std::string& url);

struct SearchOptions {
  std::vector<double> bbox;              // west, south, east, north (WGS 84); empty: any
  std::string datetime;                  // "2021-06-01T00:00:00Z", "2021-06-01/2021-08-31", "../2021-01-01"
  std::vector<std::string> collections;  // empty: any
  int limit = 100;                       // items per page
  int64_t max_items = -1;                // stop after this many; -1: every page
};

// The items a STAC API finds: POST `api_url`/search with a JSON body of the options
// (the STAC API item search), then every "next" link (POST with its body, merged into
// the request's when it says "merge", or GET of its href). Throws naming the URL and
// HTTP status when the API refuses.
std::vector<Item> search(const std::string& api_url, const SearchOptions& options = {});

struct StackOptions {
  std::optional<double> max_cloud_cover;  // keep items whose eo:cloud_cover <= this (and drop those without)
  std::string start_datetime;             // keep items at or after this (RFC 3339); "" for no bound
  std::string end_datetime;               // keep items at or before this
  std::string xy_coords = "topleft";      // coordinates of the pixels' "topleft" corners or "center"s
};

// The stacked items and their coordinates.
struct Stack {
  Array data;                               // (time, band, y, x), lazy
  std::vector<std::string> dims = {"time", "band", "y", "x"};
  std::vector<int64_t> time;                // nanoseconds since the epoch (numpy datetime64[ns])
  std::vector<std::string> datetime;        // as the items give it
  std::vector<std::string> id;              // the item of each time step
  std::vector<std::string> band;            // the asset keys
  std::vector<double> y, x;                 // from proj:transform
  int64_t epsg = 0;
  std::string crs;                          // "EPSG:32631"
  std::vector<double> transform;            // a, b, c, d, e, f of the shared grid
};

// `items` stacked as stackstac.stack does: sorted by datetime (stable: items of the
// same datetime keep their order and stay apart), the `assets` (every asset key the
// first item has when empty) as bands, on the grid of proj:epsg, proj:transform and
// proj:shape (an asset's own proj fields win over its item's). Items are first filtered
// by the options. Each asset is a 2-D Zarr array or a GeoTIFF of that shape, read
// lazily; the bands and time steps are joined with stack(). Throws
// std::invalid_argument naming the items whose grids differ from the first's, an
// item that lacks an asset or the proj fields, an asset that is neither, or when no
// item is left.
Stack stack(const std::vector<Item>& items, const std::vector<std::string>& assets = {},
            const StackOptions& options = {});

// `datetime` (RFC 3339: "2021-06-01T10:20:30.5Z", "...+02:00"; a bare date is its
// midnight UTC) in nanoseconds since the epoch. Throws std::invalid_argument.
int64_t parse_datetime(const std::string& datetime);

}  // namespace rsdat::stac
