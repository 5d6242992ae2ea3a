// A listener's `tls` section: one pair inline, or a list for SNI. The files
// are read and checked here, so --check-config and a reload catch a missing
// file, a bad PEM or a key that does not match before anything is served.
#include "proxy/config/loader.hpp"
#include "proxy/tls/certificate.hpp"

namespace keel::config::detail {

// `tls: {certificate, private_key}` or `tls: {certificates: [{...}, ...]}`.
std::optional<ListenerTls> Loader::load_listener_tls(const Value& value) {
  const auto fields = mapping(value, Keys{.known = {"certificate", "private_key", "certificates"}});
  if (!fields) return std::nullopt;
  ListenerTls tls;
  if (const Value* list_field = fields->find("certificates")) {
    if (fields->find("certificate") || fields->find("private_key")) {
      error(list_field->mark, value.path +
                                  ": use either 'certificate' and 'private_key' or a 'certificates' list, "
                                  "not both");
      return std::nullopt;
    }
    const auto items = list(*list_field, false);
    if (!items) return std::nullopt;
    bool failed = false;
    for (const Value& item : *items) {
      const auto item_fields = mapping(item, Keys{.known = {"certificate", "private_key"}});
      auto pair = item_fields ? load_certificate_pair(*item_fields) : std::nullopt;
      if (pair)
        tls.certificates.push_back(std::move(*pair));
      else
        failed = true;
    }
    if (failed) return std::nullopt;
    return tls;
  }
  auto pair = load_certificate_pair(*fields);
  if (!pair) return std::nullopt;
  tls.certificates.push_back(std::move(*pair));
  return tls;
}

std::optional<CertificatePair> Loader::load_certificate_pair(const Mapping& fields) {
  const auto certificate_field = require(fields, "certificate");
  const auto key_field = require(fields, "private_key");
  if (!certificate_field || !key_field) return std::nullopt;
  const auto certificate = string(*certificate_field);
  const auto key = string(*key_field);
  if (!certificate || !key) return std::nullopt;
  if (certificate->empty() || key->empty()) {
    error(certificate->empty() ? certificate_field->mark : key_field->mark,
          (certificate->empty() ? certificate_field->path : key_field->path) + " must not be empty");
    return std::nullopt;
  }
  std::string expiry_warning;
  const auto problem = tls::check_certificate_pair(*certificate, *key, expiry_warning);
  if (problem) {
    const Value& at = problem.where == tls::PairProblem::Where::certificate ? *certificate_field : *key_field;
    error(at.mark, problem.message + " (" + at.path + ")");
    return std::nullopt;
  }
  if (!expiry_warning.empty()) warning(certificate_field->mark, expiry_warning + " (" + certificate_field->path + ")");
  return CertificatePair{*certificate, *key};
}

}  // namespace keel::config::detail

namespace keel::config::detail {

// A pool's `tls: {verify, ca_file, server_name}`; `tls: {}` means all defaults.
std::optional<UpstreamTls> Loader::load_upstream_tls(const Value& value) {
  const auto fields = mapping(value, Keys{.known = {"verify", "ca_file", "server_name"}});
  if (!fields) return std::nullopt;
  const std::size_t errors_before = errors_.size();
  UpstreamTls tls;
  if (const Value* field = fields->find("verify"))
    if (const auto verify = choice<bool>(*field, {{"true", true}, {"false", false}})) tls.verify = *verify;
  if (const Value* field = fields->find("ca_file")) {
    if (const auto path = string(*field)) {
      tls.ca_file = *path;
      if (path->empty()) {
        error(field->mark, field->path + " must not be empty (leave it out for the system store)");
      } else if (auto problem = tls::check_ca_file(*path); !problem.empty()) {
        error(field->mark, problem + " (" + field->path + ")");
      }
    }
  }
  if (const Value* field = fields->find("server_name")) {
    if (const auto name = string(*field)) {
      tls.server_name = *name;
      if (name->empty() || name->find_first_of(" \t/:") != std::string::npos)
        error(field->mark, field->path + " must be a host name, got '" + *name + "'");
    }
  }
  if (errors_.size() != errors_before) return std::nullopt;
  return tls;
}

}  // namespace keel::config::detail
