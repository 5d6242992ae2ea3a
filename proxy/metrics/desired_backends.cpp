#include "proxy/metrics/desired_backends.hpp"

namespace keel::metrics {

void append_desired_backends(std::string& out, std::span<const admin::AutoscaleInfo> pools) {
  if (pools.empty()) return;
  out += "# HELP keel_pool_desired_backends Backends the autoscaler recommends for the pool.\n";
  out += "# TYPE keel_pool_desired_backends gauge\n";
  for (const auto& pool : pools) {
    out += "keel_pool_desired_backends{pool=\"";
    for (const char c : pool.pool) {  // label value escapes
      if (c == '\\') out += "\\\\";
      else if (c == '"') out += "\\\"";
      else if (c == '\n') out += "\\n";
      else out += c;
    }
    out += "\"} ";
    out += std::to_string(pool.desired);
    out += '\n';
  }
}

}  // namespace keel::metrics
