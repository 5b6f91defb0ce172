#include "quicklook.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

namespace rsdat::examples {

namespace {

using Rgb = std::array<uint8_t, 3>;

// Bare soil to dense vegetation.
Rgb ramp(float t) {
  static const Rgb stops[] = {{140, 81, 10}, {216, 179, 101}, {246, 232, 195}, {127, 188, 65}, {0, 104, 55}};
  constexpr int n = 5;
  t = std::clamp(t, 0.0f, 1.0f) * (n - 1);
  int i = std::min(static_cast<int>(t), n - 2);
  float f = t - static_cast<float>(i);
  Rgb c;
  for (int k = 0; k < 3; ++k) c[k] = static_cast<uint8_t>(std::lround(stops[i][k] * (1 - f) + stops[i + 1][k] * f));
  return c;
}

}  // namespace

bool write_quicklook_png(const std::string& path, const xt::xarray<float>& map, float vmin, float vmax,
                         std::string* error, int max_side) {
  if (map.dimension() != 2 || map.shape()[0] == 0 || map.shape()[1] == 0) {
    if (error) *error = "quicklook needs a non-empty 2-D map";
    return false;
  }
  const size_t rows = map.shape()[0], cols = map.shape()[1];
  const size_t step = std::max<size_t>(1, (std::max(rows, cols) + max_side - 1) / max_side);
  const size_t h = (rows + step - 1) / step, w = (cols + step - 1) / step;
  const size_t bar = std::max<size_t>(12, h / 20), gap = 4;
  const size_t height = h + gap + bar;
  std::vector<uint8_t> img(height * w * 3, 255);
  const float span = vmax > vmin ? vmax - vmin : 1.0f;
  for (size_t y = 0; y < h; ++y) {
    for (size_t x = 0; x < w; ++x) {
      double sum = 0;
      size_t n = 0;
      for (size_t i = y * step; i < std::min(rows, (y + 1) * step); ++i)
        for (size_t j = x * step; j < std::min(cols, (x + 1) * step); ++j) {
          float v = map(i, j);
          if (!std::isnan(v)) {
            sum += v;
            ++n;
          }
        }
      uint8_t* px = &img[(y * w + x) * 3];
      if (n == 0) {
        px[0] = px[1] = px[2] = 128;
        continue;
      }
      Rgb c = ramp((static_cast<float>(sum / n) - vmin) / span);
      std::copy(c.begin(), c.end(), px);
    }
  }
  // Colour scale: a gradient from vmin (left) to vmax (right), ticks at quarters.
  for (size_t y = h + gap; y < height; ++y) {
    for (size_t x = 0; x < w; ++x) {
      Rgb c = ramp(w > 1 ? static_cast<float>(x) / static_cast<float>(w - 1) : 0.0f);
      std::copy(c.begin(), c.end(), &img[(y * w + x) * 3]);
    }
  }
  for (int q = 0; q <= 4; ++q) {
    size_t x = std::min(w - 1, static_cast<size_t>(q * (w - 1) / 4));
    for (size_t y = h + gap; y < h + gap + bar / 3; ++y) {
      uint8_t* px = &img[(y * w + x) * 3];
      px[0] = px[1] = px[2] = 0;
    }
  }
  if (!stbi_write_png(path.c_str(), static_cast<int>(w), static_cast<int>(height), 3, img.data(),
                      static_cast<int>(w * 3))) {
    if (error) *error = "cannot write " + path;
    return false;
  }
  return true;
}

}  // namespace rsdat::examples
