// The config's `cluster` section: where the etcd cluster is and how this
// instance appears in it (docs/cluster.md).
#include "proxy/config/loader.hpp"

#include <algorithm>
#include <cstdlib>

namespace keel::config::detail {
namespace {

constexpr const char* kPasswordVariable = "KEEL_ETCD_PASSWORD";
constexpr Milliseconds kMinLeaseTtl{2'000};
constexpr Milliseconds kMaxLeaseTtl{300'000};

bool is_instance_name(std::string_view name) {
  return !name.empty() && name.size() <= 128 &&
         std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c < '\x7f' && c != '/'; });
}

}  // namespace

std::optional<EtcdEndpoint> Loader::etcd_endpoint(const Value& value) {
  const auto text = string(value);
  if (!text) return std::nullopt;
  EtcdEndpoint endpoint{.url = *text, .https = false, .host = {}, .port = 0};
  std::string_view rest = *text;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
    endpoint.https = true;
  } else {
    error(value.mark, "etcd endpoint '" + *text + "' in " + value.path +
                          " must start with http:// or https://, e.g. 'http://127.0.0.1:2379'");
    return std::nullopt;
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) {
    error(value.mark, "etcd endpoint '" + *text + "' in " + value.path + " must not have a path");
    return std::nullopt;
  }
  std::string problem;
  const auto host_port = split_host_port(rest, problem, false);
  if (!host_port) {
    error(value.mark, "invalid etcd endpoint '" + *text + "' in " + value.path + ": " + problem);
    return std::nullopt;
  }
  endpoint.host = host_port->host;
  endpoint.port = host_port->port;
  return endpoint;
}

std::optional<EtcdTls> Loader::load_etcd_tls(const Value& value) {
  const auto fields = mapping(value, Keys{.known = {"ca_file", "certificate", "private_key"}});
  if (!fields) return std::nullopt;
  EtcdTls tls;
  bool ok = true;
  const auto file = [&](std::string_view key, std::string& out) {
    const Value* field = fields->find(key);
    if (!field) return;
    const auto text = string(*field);
    if (!text || text->empty()) {
      if (text) error(field->mark, field->path + " must not be empty");
      ok = false;
      return;
    }
    out = *text;
  };
  file("ca_file", tls.ca_file);
  file("certificate", tls.certificate);
  file("private_key", tls.private_key);
  if (tls.certificate.empty() != tls.private_key.empty()) {
    error(value.mark, value.path + ": certificate and private_key go together");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return tls;
}

void Loader::load_cluster(const Value& value) {
  const auto fields = mapping(value, Keys{.known = {"instance", "etcd", "lease_ttl"}});
  if (!fields) return;
  const std::size_t errors_before = errors_.size();
  Cluster cluster;
  if (const Value* field = fields->find("instance")) {
    if (const auto name = string(*field)) {
      if (is_instance_name(*name))
        cluster.instance = *name;
      else
        error(field->mark, "cluster.instance '" + *name +
                               "' must be 1 to 128 visible ASCII characters, without spaces or '/'");
    }
  } else if (!config_.admin) {
    error(value.mark, "cluster.instance is required when there is no admin section "
                      "(its default is the hostname and the admin port)");
  }
  if (const Value* field = fields->find("lease_ttl")) {
    if (const auto ttl = duration(*field, false)) {
      if (*ttl < kMinLeaseTtl || *ttl > kMaxLeaseTtl || ttl->count() % 1'000 != 0)
        error(field->mark, "cluster.lease_ttl must be whole seconds from 2s to 5m, got " + field->node.Scalar());
      else
        cluster.lease_ttl = *ttl;
    }
  }
  const auto etcd_value = require(*fields, "etcd");
  const auto etcd = etcd_value ? mapping(*etcd_value, Keys{.known = {"endpoints", "prefix", "username",
                                                                      "password_file", "tls"}})
                               : std::nullopt;
  if (etcd) {
    if (const auto endpoints_value = require(*etcd, "endpoints"))
      if (const auto items = list(*endpoints_value, false))
        for (const auto& item : *items)
          if (auto endpoint = etcd_endpoint(item)) cluster.endpoints.push_back(std::move(*endpoint));
    if (const Value* field = etcd->find("prefix")) {
      if (const auto prefix = string(*field)) {
        if (prefix->empty())
          error(field->mark, "cluster.etcd.prefix must not be empty");
        else
          cluster.prefix = prefix->back() == '/' ? *prefix : *prefix + "/";
      }
    }
    if (const Value* field = etcd->find("username"))
      if (const auto name = string(*field)) cluster.username = *name;
    if (const Value* field = etcd->find("password_file")) {
      if (const auto path = string(*field)) {
        cluster.password_file = *path;
        std::string problem;
        if (auto password = read_secret_file(*path, problem))
          cluster.password = std::move(*password);
        else
          error(field->mark, field->path + " '" + *path + "': " + problem);
      }
    } else if (const char* password = std::getenv(kPasswordVariable); password != nullptr && *password != '\0') {
      cluster.password = password;
    }
    if (!cluster.username.empty() && cluster.password.empty() && !etcd->find("password_file"))
      error(etcd_value->mark, std::string("cluster.etcd.username needs a password: set cluster.etcd.password_file or ") +
                                  kPasswordVariable);
    if (cluster.username.empty() && !cluster.password.empty() && etcd->find("password_file"))
      error(etcd_value->mark, "cluster.etcd.password_file needs cluster.etcd.username");
    if (const Value* field = etcd->find("tls")) {
      if (auto tls = load_etcd_tls(*field)) cluster.tls = std::move(*tls);
    }
  }
  if (errors_.size() == errors_before) config_.cluster = std::move(cluster);
}

}  // namespace keel::config::detail
