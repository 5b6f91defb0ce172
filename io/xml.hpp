// Reading the small XML documents of the store protocols (WebDAV multistatus, S3's
// listings and errors) through expat: a walk over the elements, nothing kept.
//
//   Status st = xml::walk(body, {.close = [&](const xml::Path& path, std::string text) {
//     if (path.size() == 2 && path[0] == "Error" && path[1] == "Code") code = text;
//   }});
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.hpp"

namespace rsdat::store::xml {

// The local names (namespace prefixes dropped) of the elements from the root down to the
// current one, that one included.
using Path = std::vector<std::string>;

struct Visitor {
  // At an element's start tag.
  std::function<void(const Path&)> open;
  // At its end tag, with its own character data (entities decoded, CDATA literal, the text of
  // child elements not included).
  std::function<void(const Path&, std::string text)> close;
};

// Walks `doc` element by element. kProtocol, with expat's message and line, for a document
// that is not well-formed XML (an empty one included); the callbacks may have run by then.
Status walk(std::string_view doc, const Visitor& visitor);

}  // namespace rsdat::store::xml
