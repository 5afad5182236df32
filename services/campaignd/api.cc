#include "services/campaignd/api.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/report.h"
#include "engine/split.h"
#include "proto/json_codec.h"
#include "services/campaignctl/report_format.h"

namespace dangol::campaignd {

namespace beast_http = http::beast_http;
using Status = beast_http::status;

// A request target split into decoded path segments and query parameters.
struct Api::Target {
  std::vector<std::string> segments;  // "/v1/coupons/a%2Fb" -> {"v1", "coupons", "a/b"}
  std::map<std::string, std::string, std::less<>> query;
  bool malformed = false;

  const std::string* param(std::string_view name) const {
    auto it = query.find(name);
    return it == query.end() ? nullptr : &it->second;
  }
};

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (in[i] == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(in[i]);
    }
  }
  return true;
}

// A coupon id may contain '/' (CONTRACT §1): everything after
// "/v1/coupons/" is the id, so the path is split only up to there.
void parse_path(std::string_view path, std::vector<std::string>* segments, bool* malformed) {
  std::string decoded;
  std::size_t start = path.empty() || path[0] != '/' ? 0 : 1;
  while (start <= path.size()) {
    const bool coupon_id = segments->size() == 2 && (*segments)[0] == "v1" && (*segments)[1] == "coupons";
    std::size_t end = coupon_id ? path.size() : path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (!percent_decode(path.substr(start, end - start), false, &decoded)) *malformed = true;
    segments->push_back(decoded);
    start = end + 1;
  }
  // "/v1/campaigns/" is "/v1/campaigns".
  if (segments->size() > 1 && segments->back().empty()) segments->pop_back();
}

Api::Target parse_target(std::string_view target) {
  Api::Target t;
  const std::size_t q = target.find('?');
  parse_path(target.substr(0, q), &t.segments, &t.malformed);
  if (q == std::string_view::npos) return t;
  std::string_view query = target.substr(q + 1);
  std::string key, value;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (!percent_decode(pair.substr(0, eq), true, &key) ||
        !percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true, &value)) {
      t.malformed = true;
    }
    if (!key.empty()) t.query[key] = value;
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return t;
}

http::Response ok_json(std::string body) { return http::json_response(Status::ok, std::move(body)); }
http::Response error(Status status, std::string_view message) { return http::error_response(status, message); }

http::Response method_not_allowed(std::string_view allow) {
  auto r = error(Status::method_not_allowed, "method not allowed; use " + std::string(allow));
  r.set(beast_http::field::allow, allow);
  return r;
}

void key(std::string_view k, std::string* out) {
  out->push_back('"');
  out->append(k);
  out->append("\":");
}
void str(std::string_view k, std::string_view v, std::string* out, bool comma = true) {
  key(k, out);
  ctl::append_json_string(v, out);
  if (comma) out->push_back(',');
}
void num(std::string_view k, std::int64_t v, std::string* out, bool comma = true) {
  key(k, out);
  out->append(std::to_string(v));
  if (comma) out->push_back(',');
}
void time_field(std::string_view k, Instant t, std::string* out, bool comma = true) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(t.seconds_floor());
  ts.set_nanos(t.subsecond_nanos());
  key(k, out);
  json::append_timestamp_json(ts, out);
  if (comma) out->push_back(',');
}

std::string_view coupon_status_name(CouponStatus s) {
  switch (s) {
    case CouponStatus::kIssued: return "ISSUED";
    case CouponStatus::kRedeemed: return "REDEEMED";
    case CouponStatus::kExpired: return "EXPIRED";
    case CouponStatus::kVoid: return "VOID";
  }
  return "";
}

// The merchant a merchant-scoped payload acts for, or null when the payload
// is not something a merchant may post (campaign definitions, budgets,
// status changes and enrolment belong to operators; a couponIssued without
// a merchant is not scoped to one).
const std::string* acting_merchant(const v1::Envelope& e) {
  switch (e.payload_case()) {
    case v1::Envelope::kChannelOpened: return &e.channel_opened().merchant_id();
    case v1::Envelope::kChannelAdded: return &e.channel_added().merchant_id();
    case v1::Envelope::kChannelBlocked: return &e.channel_blocked().merchant_id();
    case v1::Envelope::kCouponRedeemed: return &e.coupon_redeemed().merchant_id();
    case v1::Envelope::kRedemptionReversed: return &e.redemption_reversed().merchant_id();
    case v1::Envelope::kMessageSent: return &e.message_sent().merchant_id();
    case v1::Envelope::kCouponIssued:
      return e.coupon_issued().has_merchant_id() ? &e.coupon_issued().merchant_id() : nullptr;
    default: return nullptr;
  }
}

// GET of a collection ({"<kind>s":[…]}) or of one member (the object
// itself, 404 when `id` is not among the figures).
template <class Figures, class Append>
http::Response one_or_list(const std::vector<Figures>& figures, const std::string* id, std::string_view kind,
                           Append append) {
  std::string out;
  if (id != nullptr) {
    if (figures.empty()) return error(Status::not_found, "no " + std::string(kind) + " " + *id);
    append(figures[0], &out);
    return ok_json(std::move(out));
  }
  out = "{\"" + std::string(kind) + "s\":[";
  for (std::size_t i = 0; i < figures.size(); ++i) {
    if (i > 0) out += ',';
    append(figures[i], &out);
  }
  out += "]}";
  return ok_json(std::move(out));
}

bool is_blank(std::string_view line) { return line.find_first_not_of(" \t\r") == std::string_view::npos; }

}  // namespace

void Api::handle(http::Request& request, http::Reply reply) {
  const Target target = parse_target(request.target());
  if (target.malformed) return reply(error(Status::bad_request, "malformed percent-encoding in the request target"));
  const auto& segments = target.segments;
  const bool probe = segments.size() == 1 && (segments[0] == "healthz" || segments[0] == "readyz" ||
                                               segments[0] == "metrics");
  std::optional<http::Role> role;
  if (!auth_.enabled()) {
    role = http::Role{http::Role::Kind::kAdmin, {}};
  } else if (!probe) {
    auto header = request.find(beast_http::field::authorization);
    if (header != request.end()) role = auth_.authenticate(header->value());
    if (!role) {
      auto r = error(Status::unauthorized,
                     header == request.end() ? "missing bearer token" : "unknown or malformed bearer token");
      r.set(beast_http::field::www_authenticate, "Bearer");
      return reply(std::move(r));
    }
  }
  bool answered_later = false;
  http::Response response = route(request, target, role, reply, &answered_later);
  if (!answered_later) reply(std::move(response));
}

http::Response Api::route(const http::Request& request, const Target& target, const std::optional<http::Role>& role,
                          const http::Reply& reply, bool* answered_later) {
  const auto& s = target.segments;
  const auto method = request.method();
  const bool get = method == beast_http::verb::get || method == beast_http::verb::head;  // the server drops HEAD's body
  const bool post = method == beast_http::verb::post;
  auto forbidden = [&](std::string_view what) {
    return error(Status::forbidden, "role " + role->name() + " may not " + std::string(what));
  };

  if (s.size() == 1 && s[0] == "healthz") return get ? ok_json("{\"status\":\"up\"}") : method_not_allowed("GET");
  if (s.size() == 1 && s[0] == "readyz") return get ? get_ready() : method_not_allowed("GET");
  if (s.size() == 1 && s[0] == "metrics") return get ? get_metrics() : method_not_allowed("GET");
  if (s.size() < 2 || s[0] != "v1") return error(Status::not_found, "no such resource");

  const std::string& resource = s[1];
  if (resource == "events" && s.size() == 2) {
    if (!post) return method_not_allowed("POST");
    if (!role->may_post_events()) return forbidden("post events");
    return post_events(request, target, *role, reply, answered_later);
  }
  if (resource == "admin" && s.size() == 3 && s[2] == "checkpoint") {
    if (!post) return method_not_allowed("POST");
    if (!role->is_admin()) return forbidden("take checkpoints");
    return post_checkpoint(request);
  }
  if (resource == "campaigns" && s.size() <= 3) {
    if (!get) return method_not_allowed("GET");
    if (!role->may_read_all()) return forbidden("read campaigns");
    return get_campaigns(target);
  }
  if (resource == "markets" && s.size() <= 3) {
    if (!get) return method_not_allowed("GET");
    if (!role->may_read_all()) return forbidden("read markets");
    return get_markets(target);
  }
  if (resource == "reconciliation" && s.size() == 2) {
    if (!get) return method_not_allowed("GET");
    if (!role->may_read_all()) return forbidden("read the reconciliation");
    return get_reconciliation();
  }
  if (resource == "coupons" && s.size() == 3 && !s[2].empty()) {
    if (!get) return method_not_allowed("GET");
    return get_coupon(s[2], *role);
  }
  if (resource == "merchants" && s.size() == 3 && !s[2].empty()) {
    if (!get) return method_not_allowed("GET");
    if (!role->may_read_all() && role->merchant_id != s[2]) return forbidden("read another merchant");
    return get_merchant(s[2], *role);
  }
  return error(Status::not_found, "no such resource");
}

http::Response Api::get_ready() {
  if (!pipeline_.stats().ready.load()) {
    return error(Status::service_unavailable, pipeline_.stats().not_ready_reason());
  }
  std::int64_t next_seq = 0;
  (void)pipeline_.read_state([&](const Engine& e) { next_seq = e.state().next_seq; });
  return ok_json("{\"ready\":true,\"nextSeq\":" + std::to_string(next_seq) + "}");
}

http::Response Api::get_campaigns(const Target& target) {
  const bool one = target.segments.size() == 3;
  std::vector<CampaignFigures> figures;
  bool loaded = pipeline_.read_state([&](const Engine& e) {
    const State& st = e.state();
    if (!one) {
      for (CampaignIdx idx : st.campaigns_by_id) figures.push_back(campaign_figures(st.campaigns[idx.value]));
      return;
    }
    if (CampaignIdx idx = st.campaign_ids.find(target.segments[2]); idx.valid()) {
      figures.push_back(campaign_figures(st.campaigns[idx.value]));
    }
  });
  if (!loaded) return error(Status::service_unavailable, "state not loaded yet");
  return one_or_list(figures, one ? &target.segments[2] : nullptr, "campaign", ctl::append_campaign_json);
}

http::Response Api::get_markets(const Target& target) {
  const bool one = target.segments.size() == 3;
  std::vector<MarketFigures> figures;
  bool loaded = pipeline_.read_state([&](const Engine& e) {
    ReportFilter filter;
    if (one) filter.market_id = target.segments[2];
    figures = market_figures(e.state(), filter);
  });
  if (!loaded) return error(Status::service_unavailable, "state not loaded yet");
  return one_or_list(figures, one ? &target.segments[2] : nullptr, "market", ctl::append_market_json);
}

http::Response Api::get_coupon(const std::string& id, const http::Role& role) {
  enum class Found { kNo, kForbidden, kYes } found = Found::kNo;
  std::string out;
  bool loaded = pipeline_.read_state([&](const Engine& e) {
    const State& st = e.state();
    const std::uint32_t index = st.find_coupon(id);
    if (index == CouponIdx::kNone) return;
    const Coupon& k = st.coupons[index];
    const std::string& merchant = k.merchant.valid() ? st.merchant_ids.name(k.merchant) : std::string();
    const std::string& redeemed_at = k.redeemed_at.valid() ? st.merchant_ids.name(k.redeemed_at) : std::string();
    if (!role.may_read_all() && merchant != role.merchant_id && redeemed_at != role.merchant_id) {
      found = Found::kForbidden;
      return;
    }
    found = Found::kYes;
    const Campaign& c = st.campaigns[k.campaign.value];
    out += '{';
    str("couponId", k.coupon_id, &out);
    str("campaignId", c.campaign_id, &out);
    str("merchantId", merchant, &out);
    str("customerId", st.customer_ids.name(k.customer), &out);
    str("status", coupon_status_name(k.status), &out);
    num("reserved", k.reserved.minor(), &out);
    num("discount", k.discount.minor(), &out);
    time_field("issuedAt", k.issued_at, &out);
    time_field("expiresAt", k.expires_at, &out);
    if (!redeemed_at.empty()) str("redeemedAt", redeemed_at, &out);
    // Each funder's part of the reservation, and of the settled discount.
    const Parts reserved = split_by_shares(k.reserved, c.shares_bps);
    const Parts discount = split_proportional(k.discount, reserved);
    key("split", &out);
    out += '[';
    for (std::size_t i = 0; i < c.funders.size(); ++i) {
      if (i > 0) out += ',';
      out += '{';
      str("funderId", c.funders[i].funder_id, &out);
      num("reserved", reserved[i], &out);
      num("discount", discount[i], &out, false);
      out += '}';
    }
    out += "]}";
  });
  if (!loaded) return error(Status::service_unavailable, "state not loaded yet");
  if (found == Found::kForbidden) return error(Status::forbidden, "role " + role.name() + " may not read this coupon");
  if (found == Found::kNo) return error(Status::not_found, "no coupon " + id);
  return ok_json(std::move(out));
}

http::Response Api::get_merchant(const std::string& id, const http::Role&) {
  bool exists = false;
  std::string out;
  bool loaded = pipeline_.read_state([&](const Engine& e) {
    const State& st = e.state();
    MerchantIdx idx = st.merchant_ids.find(id);
    if (!idx.valid() || idx.value >= st.merchants.size()) return;
    exists = true;
    const Merchant& m = st.merchants[idx.value];
    out += '{';
    str("merchantId", id, &out);
    key("enrolled", &out);
    out += m.enrolled ? "true," : "false,";
    str("marketId", m.market.valid() ? st.market_ids.name(m.market) : std::string(), &out);
    str("category", m.category.valid() ? st.category_ids.name(m.category) : std::string(), &out);
    str("channelId", m.channel_id, &out);
    num("friends", m.friends, &out);
    num("friendAdds", m.friend_adds, &out);
    num("messages", m.messages, &out);
    num("recipients", m.recipients, &out);
    num("welcomeGranted", m.welcome_granted, &out);
    num("welcomeRedeemed", m.welcome_redeemed, &out);
    num("messageCostSelfPaid", m.message_cost_self_paid.minor(), &out);
    // Message cash left per campaign (sum over its funders).
    key("messageCash", &out);
    out += '[';
    bool first = true;
    for (CampaignIdx c : st.message_cash_campaigns) {
      const Campaign& campaign = st.campaigns[c.value];
      auto account = campaign.message_cash.find(idx);
      if (account == campaign.message_cash.end()) continue;
      if (!first) out += ',';
      first = false;
      out += '{';
      str("campaignId", campaign.campaign_id, &out);
      num("remaining", account->second.remaining.sum(), &out, false);
      out += '}';
    }
    out += "]}";
  });
  if (!loaded) return error(Status::service_unavailable, "state not loaded yet");
  if (!exists) return error(Status::not_found, "no merchant " + id);
  return ok_json(std::move(out));
}

http::Response Api::get_reconciliation() {
  std::lock_guard lock(reconciliation_mutex_);
  std::int64_t seq = 0;
  std::vector<std::string> violations;
  std::vector<CampaignFigures> campaigns;
  bool loaded = pipeline_.read_state([&](const Engine& e) {
    seq = e.state().next_seq - 1;
    if (seq == reconciled_at_seq_) return;
    violations = e.check_invariants();
    for (CampaignIdx idx : e.state().campaigns_by_id) campaigns.push_back(campaign_figures(e.state().campaigns[idx.value]));
  });
  if (!loaded) return error(Status::service_unavailable, "state not loaded yet");
  if (seq != reconciled_at_seq_) {
    std::string out = "{";
    key("balanced", &out);
    out += violations.empty() ? "true," : "false,";
    num("seq", seq, &out);
    key("violations", &out);
    out += '[';
    for (std::size_t i = 0; i < violations.size(); ++i) {
      if (i > 0) out += ',';
      ctl::append_json_string(violations[i], &out);
    }
    out += "],";
    key("funders", &out);
    out += '[';
    bool first = true;
    for (const auto& c : campaigns) {
      for (const auto& f : c.funders) {
        if (!first) out += ',';
        first = false;
        out += '{';
        str("campaignId", c.campaign_id, &out);
        str("funderId", f.funder_id, &out);
        num("budget", f.budget, &out);
        num("available", f.available, &out);
        num("reserved", f.reserved, &out);
        num("spent", f.spent, &out, false);
        out += '}';
      }
    }
    out += "]}";
    reconciliation_json_ = std::move(out);
    reconciled_at_seq_ = seq;
  }
  return ok_json(reconciliation_json_);
}

http::Response Api::post_events(const http::Request& request, const Target& target, const http::Role& role,
                                const http::Reply& reply, bool* answered_later) {
  std::vector<v1::Envelope> events;
  std::string_view body = request.body();
  std::string parse_error;
  std::int64_t line_number = 0;
  while (!body.empty()) {
    const std::size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
    ++line_number;
    if (is_blank(line)) continue;
    auto bad = [&](std::string why) {
      std::string out = "{";
      str("error", "line " + std::to_string(line_number) + ": " + why, &out);
      num("line", line_number, &out, false);
      out += '}';
      return http::json_response(Status::bad_request, std::move(out));
    };
    v1::Envelope& e = events.emplace_back();
    if (!json::parse_envelope(line, &e, &parse_error)) return bad(parse_error);
    if (e.event_id().empty()) return bad("eventId is required");
    if (e.payload_case() == v1::Envelope::PAYLOAD_NOT_SET) return bad("the event has no payload");
    if (role.kind == http::Role::Kind::kMerchant) {
      const std::string* merchant = acting_merchant(e);
      if (merchant == nullptr || *merchant != role.merchant_id) {
        return error(Status::forbidden, "line " + std::to_string(line_number) + ": role " + role.name() +
                                            " may only post events of merchant " + role.merchant_id);
      }
    }
  }
  if (events.empty()) return error(Status::bad_request, "no events in the body (one JSON envelope per line)");
  if (ingest_ == nullptr) return error(Status::service_unavailable, "event ingestion is not available");

  bool wait = false;
  if (const std::string* w = target.param("wait")) wait = *w == "1" || *w == "true";
  std::chrono::milliseconds timeout = options_.default_wait;
  if (const std::string* t = target.param("timeoutMs")) {
    char* end = nullptr;
    long long ms = std::strtoll(t->c_str(), &end, 10);
    if (t->empty() || *end != '\0' || ms <= 0) {
      return error(Status::bad_request, "timeoutMs must be a positive number of milliseconds");
    }
    timeout = std::min(options_.max_wait, std::chrono::milliseconds(ms));
  }
  *answered_later = true;
  ingest_->submit(std::move(events), wait, timeout, [reply](IngestResult r) {
    std::string out = "{";
    switch (r.kind) {
      case IngestResult::Kind::kAccepted:
        num("accepted", r.accepted, &out, false);
        out += '}';
        return reply(http::json_response(Status::accepted, std::move(out)));
      case IngestResult::Kind::kUnavailable:
        str("error", r.error, &out);
        num("accepted", r.accepted, &out, false);
        out += '}';
        return reply(http::json_response(Status::service_unavailable, std::move(out)));
      case IngestResult::Kind::kDecided:
      case IngestResult::Kind::kTimedOut: {
        const bool timed_out = r.kind == IngestResult::Kind::kTimedOut;
        if (timed_out) str("error", "timed out waiting for decisions", &out);
        if (timed_out) num("accepted", r.accepted, &out);
        key("decisions", &out);
        out += '[';
        for (std::size_t i = 0; i < r.decisions.size(); ++i) {
          if (i > 0) out += ',';
          out += r.decisions[i];
        }
        out += ']';
        if (timed_out) {
          out += ",\"pending\":[";
          for (std::size_t i = 0; i < r.pending.size(); ++i) {
            if (i > 0) out += ',';
            ctl::append_json_string(r.pending[i], &out);
          }
          out += ']';
        }
        out += '}';
        return reply(http::json_response(timed_out ? Status::gateway_timeout : Status::ok, std::move(out)));
      }
    }
  });
  return {};
}

http::Response Api::post_checkpoint(const http::Request& request) {
  std::string dir;
  // {"dir":"/var/lib/dangol/checkpoints/2026-11-22"}: a tiny body, parsed
  // with the protobuf-free JSON reader of the Envelope would be overkill.
  std::string_view body = request.body();
  const std::size_t k = body.find("\"dir\"");
  if (k != std::string_view::npos) {
    std::size_t colon = body.find(':', k + 5);
    std::size_t open = colon == std::string_view::npos ? colon : body.find('"', colon + 1);
    std::size_t close = open == std::string_view::npos ? open : body.find('"', open + 1);
    if (close != std::string_view::npos) dir = std::string(body.substr(open + 1, close - open - 1));
  }
  if (dir.empty() || dir.find('\\') != std::string::npos) {
    return error(Status::bad_request, "expected a JSON body {\"dir\":\"/absolute/path/for/the/checkpoint\"}");
  }
  std::error_code ec;
  const std::filesystem::path target(dir);
  if (!target.is_absolute()) return error(Status::bad_request, "dir must be an absolute path");
  if (std::filesystem::exists(target, ec)) return error(Status::conflict, dir + " exists already");
  if (!options_.state_dir.empty()) {
    const auto state = std::filesystem::weakly_canonical(options_.state_dir, ec).lexically_normal();
    const auto rel = std::filesystem::weakly_canonical(target, ec).lexically_normal().lexically_relative(state);
    if (!rel.empty() && *rel.begin() != "..") {
      return error(Status::bad_request, "dir must be outside the state dir " + options_.state_dir);
    }
  }
  // RocksDB creates the checkpoint directory itself, not its parents.
  if (std::filesystem::create_directories(target.parent_path(), ec); ec) {
    return error(Status::internal_server_error, "cannot create " + target.parent_path().string() + ": " + ec.message());
  }
  std::string why;
  auto started = std::chrono::steady_clock::now();
  if (!pipeline_.checkpoint(dir, &why)) return error(Status::internal_server_error, why);
  spdlog::info("campaignd: checkpoint written to {} in {:.3f} s", dir,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  std::string out = "{";
  str("checkpoint", dir, &out, false);
  out += '}';
  return ok_json(std::move(out));
}

http::Response Api::get_metrics() {
  http::PrometheusText m;
  const PipelineStats& st = pipeline_.stats();
  const PipelineStats::Snapshot snap = st.snapshot();

  m.single("dangol_ready", "gauge", "1 when campaignd has recovered and is consuming",
           static_cast<std::int64_t>(st.ready.load() ? 1 : 0));
  m.family("dangol_events_total", "counter", "Events decided by this process, by outcome and reason");
  for (const auto& [key, n] : snap.decisions) {
    m.sample("dangol_events_total", {{"outcome", key.first}, {"reason", key.second}}, n);
  }
  m.single("dangol_decisions_published_total", "counter", "Decisions acknowledged by the decisions topic",
           st.decisions_published.load());
  m.single("dangol_dead_letters_total", "counter", "Undecodable records written to the dead-letter topic",
           st.dead_letters.load());
  m.single("dangol_outbox_replayed_total", "counter", "Outbox decisions published again during recovery",
           st.outbox_replayed.load());
  m.family("dangol_batch_records", "histogram", "Records per committed batch");
  st.batch_records.write(m, "dangol_batch_records");
  m.family("dangol_batch_commit_seconds", "histogram", "Time of the fsynced RocksDB commit of a batch");
  st.commit_seconds.write(m, "dangol_batch_commit_seconds");
  m.family("dangol_consumer_lag_records", "gauge", "Events not yet decided, per partition of the events topic");
  for (const auto& [partition, lag] : snap.lag) {
    m.sample("dangol_consumer_lag_records", {{"partition", std::to_string(partition)}}, lag);
  }

  // Per campaign and funder, in minor units of the campaign currency.
  struct Row {
    std::string campaign, funder;
    std::int64_t budget, available, reserved, spent;
  };
  std::vector<Row> rows;
  std::int64_t next_seq = 0, coupons = 0;
  (void)pipeline_.read_state([&](const Engine& e) {
    const State& s = e.state();
    next_seq = s.next_seq;
    coupons = static_cast<std::int64_t>(s.coupons.size());
    for (CampaignIdx idx : s.campaigns_by_id) {
      const Campaign& c = s.campaigns[idx.value];
      for (const auto& f : c.funders) {
        rows.push_back({c.campaign_id, f.funder_id, f.budget.minor(), f.available.minor(), f.reserved.minor(),
                        f.spent.minor()});
      }
    }
  });
  m.single("dangol_next_seq", "gauge", "The seq the next decision of this shard gets", next_seq);
  m.single("dangol_coupons", "gauge", "Coupons ever granted and kept in state", coupons);
  const std::pair<const char*, std::int64_t Row::*> gauges[] = {
      {"dangol_funder_budget", &Row::budget},
      {"dangol_funder_available", &Row::available},
      {"dangol_funder_reserved", &Row::reserved},
      {"dangol_funder_spent", &Row::spent},
  };
  for (const auto& [name, field] : gauges) {
    m.family(name, "gauge", std::string("Funder ledger: ") + (name + 13) + ", in minor currency units");
    for (const Row& r : rows) m.sample(name, {{"campaign", r.campaign}, {"funder", r.funder}}, r.*field);
  }

  if (ingest_ != nullptr) {
    const IngestStats& is = ingest_->stats();
    m.single("dangol_http_events_total", "counter", "Events received by POST /v1/events", is.events.load());
    m.single("dangol_http_events_unavailable_total", "counter", "POST /v1/events answered 503", is.unavailable.load());
    m.single("dangol_http_events_wait_timeouts_total", "counter", "POST /v1/events?wait=1 answered 504",
             is.timed_out.load());
  }
  if (server_stats_ != nullptr) {
    m.single("dangol_http_requests_total", "counter", "HTTP requests read", server_stats_->requests.load());
    m.single("dangol_http_connections_open", "gauge", "Open HTTP connections", server_stats_->connections_open.load());
    m.single("dangol_http_connections_refused_total", "counter", "Connections refused at the connection limit",
             server_stats_->connections_refused.load());
    m.single("dangol_http_answer_bytes_queued", "gauge", "Bytes of answers not yet read by their clients",
             server_stats_->bytes_queued.load());
    m.single("dangol_http_busy_total", "counter", "Requests answered 503 as answers waiting for readers hit the bound",
             server_stats_->busy_refusals.load());
    m.single("dangol_http_write_timeouts_total", "counter", "Connections closed as their client did not read in time",
             server_stats_->write_timeouts.load());
    m.single("dangol_http_accept_backoffs_total", "counter", "Times accepting paused for want of descriptors",
             server_stats_->accept_backoffs.load());
  }
  http::Response r(Status::ok, 11);
  r.set(beast_http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  r.body() = m.take();
  return r;
}

}  // namespace dangol::campaignd
