// The dashboard's files (docs/dashboard.md), compiled into the binary from
// proxy/admin/dashboard/ (see embed.cmake), and the answers that serve them.
#pragma once

#include "proxy/admin/admin_routes.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace keel::admin {

struct EmbeddedFile {
  std::string_view name;  // "index.html"
  std::string_view content;
};

// Every file of the dashboard (generated: dashboard_files.cpp in the build folder).
std::span<const EmbeddedFile> dashboard_files();

// The answer for a dashboard path, or nullopt when `path` (decode_path's segments)
// is not one: "/", "/ui" and "/ui/" are the page, "/ui/NAME" its files. The page holds
// no data, so it needs no token; everything it shows comes from /api/ calls, which do.
std::optional<AdminResponse> dashboard_response(const std::vector<std::string>& path, std::string_view method);

}  // namespace keel::admin
