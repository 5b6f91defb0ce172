#include "io/xml.hpp"

#include <expat.h>

#include <limits>
#include <memory>

namespace rsdat::store::xml {
namespace {

struct Walk {
  const Visitor* visitor;
  Path path;
  std::vector<std::string> text;  // per open element
};

std::string local_name(const XML_Char* name) {
  std::string_view n(name);
  if (auto colon = n.find(':'); colon != std::string_view::npos) n.remove_prefix(colon + 1);
  return std::string(n);
}

void XMLCALL on_start(void* data, const XML_Char* name, const XML_Char** /*attributes*/) {
  auto* w = static_cast<Walk*>(data);
  w->path.push_back(local_name(name));
  w->text.emplace_back();
  if (w->visitor->open) w->visitor->open(w->path);
}

void XMLCALL on_end(void* data, const XML_Char* /*name*/) {
  auto* w = static_cast<Walk*>(data);
  if (w->visitor->close) w->visitor->close(w->path, std::move(w->text.back()));
  w->path.pop_back();
  w->text.pop_back();
}

void XMLCALL on_text(void* data, const XML_Char* s, int len) {
  auto* w = static_cast<Walk*>(data);
  if (!w->text.empty()) w->text.back().append(s, static_cast<size_t>(len));
}

}  // namespace

Status walk(std::string_view doc, const Visitor& visitor) {
  // Without namespace processing: an element's name is its qualified name, and only the
  // local part is kept (the documents read here are told apart by local names).
  std::unique_ptr<XML_ParserStruct, decltype(&XML_ParserFree)> parser(XML_ParserCreate("UTF-8"), XML_ParserFree);
  if (!parser) return internal_error("cannot create an XML parser");
  Walk w{&visitor, {}, {}};
  XML_SetUserData(parser.get(), &w);
  XML_SetElementHandler(parser.get(), on_start, on_end);
  XML_SetCharacterDataHandler(parser.get(), on_text);
  if (doc.size() > static_cast<size_t>(std::numeric_limits<int>::max())) return protocol_error("XML document too large");
  if (XML_Parse(parser.get(), doc.data(), static_cast<int>(doc.size()), /*isFinal=*/1) == XML_STATUS_ERROR) {
    return protocol_error(std::string("not well-formed XML: ") + XML_ErrorString(XML_GetErrorCode(parser.get())) +
                          " at line " + std::to_string(XML_GetCurrentLineNumber(parser.get())));
  }
  return Status::ok();
}

}  // namespace rsdat::store::xml
