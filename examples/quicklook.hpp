// A PNG quicklook of a 2-D map with a colour scale, for the examples.
#pragma once

#include <string>
#include <xtensor/xarray.hpp>

namespace rsdat::examples {

// Writes `map` (2-D) as an 8-bit RGB PNG, downsampled by block averages to at most
// `max_side` pixels on its longest side, coloured with a brown-to-green vegetation
// ramp from vmin to vmax, with the colour scale as a bar along the bottom edge. NaN
// pixels are grey. Returns false and sets *error on failure.
bool write_quicklook_png(const std::string& path, const xt::xarray<float>& map, float vmin, float vmax,
                         std::string* error, int max_side = 1024);

}  // namespace rsdat::examples
