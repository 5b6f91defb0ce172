// The dashboard's pages: self-contained HTML, each with the small script that draws its
// view (SVG and plain HTML) from the view's JSON endpoint, polled once a second.
#pragma once

#include <string>
#include <vector>

namespace rsdat::sched {

struct DashboardPage {
  std::vector<const char*> paths;  // where it is served, e.g. "/tasks"
  std::string html;
};

const std::vector<DashboardPage>& dashboard_pages();

}  // namespace rsdat::sched
