#include "proxy/admin/dashboard.hpp"

#include "proxy/admin/json_codec.hpp"

namespace keel::admin {
namespace {

std::string_view content_type(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  return "application/octet-stream";
}

// The page runs only its own script and talks only to this listener: an injected
// string can neither run nor load anything, and no other site may frame the buttons.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const EmbeddedFile* find_file(std::string_view name) {
  for (const EmbeddedFile& file : dashboard_files())
    if (file.name == name) return &file;
  return nullptr;
}

}  // namespace

std::optional<AdminResponse> dashboard_response(const std::vector<std::string>& path, std::string_view method) {
  std::string_view name;
  if ((path.size() == 1 && path[0].empty()) || (path.size() == 1 && path[0] == "ui") ||
      (path.size() == 2 && path[0] == "ui" && path[1].empty()))
    name = "index.html";
  else if (path.size() == 2 && path[0] == "ui")
    name = path[1];
  else
    return std::nullopt;
  const EmbeddedFile* file = find_file(name);
  if (!file) return AdminResponse{.status = 404, .body = error_json("not found")};
  if (method != "GET" && method != "HEAD") {
    AdminResponse refused{.status = 405, .body = error_json("method not allowed; allowed: GET, HEAD")};
    refused.headers.emplace_back("Allow", "GET, HEAD");
    return refused;
  }
  return AdminResponse{.status = 200,
                       .body = {},
                       .headers = {{"Content-Security-Policy", std::string(kContentSecurityPolicy)},
                                   {"X-Content-Type-Options", "nosniff"},
                                   {"Referrer-Policy", "no-referrer"}},
                       .text = std::string(file->content),
                       .content_type = content_type(file->name)};
}

}  // namespace keel::admin
