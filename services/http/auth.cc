#include "services/http/auth.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

namespace dangol::http {
namespace {

constexpr std::size_t kMinTokenBytes = 16;
constexpr std::size_t kMaxTokenBytes = 4096;

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == ':' || c == '-';
}

bool is_token_char(char c) { return c > ' ' && c < 0x7f; }

}  // namespace

std::string Role::name() const {
  switch (kind) {
    case Kind::kAdmin: return "admin";
    case Kind::kFinance: return "finance";
    case Kind::kIngest: return "ingest";
    case Kind::kMerchant: return "merchant:" + merchant_id;
  }
  return "";
}

std::optional<Role> parse_role(std::string_view text) {
  if (text == "admin") return Role{Role::Kind::kAdmin, {}};
  if (text == "finance") return Role{Role::Kind::kFinance, {}};
  if (text == "ingest") return Role{Role::Kind::kIngest, {}};
  constexpr std::string_view kMerchant = "merchant:";
  if (text.substr(0, kMerchant.size()) != kMerchant) return std::nullopt;
  std::string_view id = text.substr(kMerchant.size());
  if (id.empty() || id.size() > 64) return std::nullopt;
  for (char c : id) {
    if (!is_id_char(c)) return std::nullopt;
  }
  return Role{Role::Kind::kMerchant, std::string(id)};
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  // Compare over the longer length so a short guess costs as much as a long
  // one; the result folds in the length difference.
  const std::size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  // Keep the compiler from turning the loop into an early exit.
  volatile unsigned char result = diff;
  return result == 0;
}

bool Auth::load(const std::string& path, Auth* out, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = path + ": cannot read the auth file";
    return false;
  }
  std::stringstream text;
  text << in.rdbuf();
  return from_yaml(text.str(), path, out, error);
}

bool Auth::from_yaml(std::string_view yaml, std::string_view source, Auth* out, std::string* error) {
  const std::string where(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    *error = where + ": not valid YAML: " + e.what();
    return false;
  }
  if (!root.IsMap() || !root["tokens"] || !root["tokens"].IsSequence()) {
    *error = where + ": expected a map with a 'tokens' list";
    return false;
  }
  Auth auth;
  auth.enabled_ = true;
  std::set<std::string> seen;
  const YAML::Node tokens = root["tokens"];
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::string at = where + ": tokens[" + std::to_string(i) + "]: ";
    const YAML::Node entry = tokens[i];
    if (!entry.IsMap() || !entry["token"] || !entry["role"] || !entry["token"].IsScalar() ||
        !entry["role"].IsScalar()) {
      *error = at + "expected 'token' and 'role'";
      return false;
    }
    std::string token = entry["token"].Scalar();
    std::string role_text = entry["role"].Scalar();
    if (token.size() < kMinTokenBytes || token.size() > kMaxTokenBytes) {
      *error = at + "token must be " + std::to_string(kMinTokenBytes) + " to " + std::to_string(kMaxTokenBytes) +
               " bytes";
      return false;
    }
    for (char c : token) {
      if (!is_token_char(c)) {
        *error = at + "token must be printable ASCII without spaces";
        return false;
      }
    }
    auto role = parse_role(role_text);
    if (!role) {
      *error = at + "unknown role '" + role_text + "' (admin, finance, ingest or merchant:<id>)";
      return false;
    }
    if (!seen.insert(token).second) {
      *error = at + "token listed twice";
      return false;
    }
    auth.entries_.push_back({std::move(token), std::move(*role)});
  }
  if (auth.entries_.empty()) {
    *error = where + ": no tokens";
    return false;
  }
  *out = std::move(auth);
  return true;
}

std::optional<Role> Auth::authenticate(std::string_view authorization) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() || authorization.substr(0, kBearer.size()) != kBearer) {
    return std::nullopt;
  }
  std::string_view token = authorization.substr(kBearer.size());
  const Entry* match = nullptr;
  for (const Entry& e : entries_) {
    if (constant_time_equals(token, e.token) && match == nullptr) match = &e;
  }
  if (match == nullptr) return std::nullopt;
  return match->role;
}

}  // namespace dangol::http
