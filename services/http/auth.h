#pragma once
// Bearer tokens and roles (CONTRACT §5): admin, finance (read only), ingest
// (post events, read), merchant:<id> (post its own merchant's events, read
// its own merchant and coupons). Loaded from the YAML of --auth-file:
//
//   tokens:
//     - token: "a-long-random-secret"
//       role: admin
//
// Tokens are compared in constant time: every known token is compared in
// full, whatever matches, so the time taken says nothing about them.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dangol::http {

struct Role {
  enum class Kind { kAdmin, kFinance, kIngest, kMerchant };
  Kind kind = Kind::kAdmin;
  std::string merchant_id;  // kMerchant only

  std::string name() const;
  bool may_read_all() const { return kind != Kind::kMerchant; }
  bool may_post_events() const { return kind == Kind::kAdmin || kind == Kind::kIngest || kind == Kind::kMerchant; }
  bool is_admin() const { return kind == Kind::kAdmin; }
};

// "admin", "finance", "ingest" or "merchant:<id>" (an id of CONTRACT §1).
std::optional<Role> parse_role(std::string_view text);

class Auth {
 public:
  // Without an auth file every request acts as admin (campaignd then serves
  // loopback only).
  static Auth open_access() { return Auth(); }
  // Reads and checks the whole file; on error returns false with *error
  // naming the file and the entry ("auth.yaml: tokens[2]: unknown role
  // 'root'").
  static bool load(const std::string& path, Auth* out, std::string* error);
  // For tests and callers that build the table themselves.
  static bool from_yaml(std::string_view yaml, std::string_view source, Auth* out, std::string* error);

  bool enabled() const { return enabled_; }
  std::size_t size() const { return entries_.size(); }

  // The role of `authorization` (the header's value: "Bearer <token>"), or
  // nothing when it is missing, malformed or unknown (401).
  std::optional<Role> authenticate(std::string_view authorization) const;

 private:
  struct Entry {
    std::string token;
    Role role;
  };
  bool enabled_ = false;
  std::vector<Entry> entries_;
};

// Constant-time equality for secrets: the time depends only on the lengths.
bool constant_time_equals(std::string_view a, std::string_view b);

}  // namespace dangol::http
