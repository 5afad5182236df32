#include "services/campaignctl/report_format.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace dangol::ctl {
namespace {

void key(std::string_view name, std::string* out) {
  append_json_string(name, out);
  out->push_back(':');
}

void num(std::string_view name, std::int64_t v, std::string* out, bool comma = true) {
  key(name, out);
  *out += std::to_string(v);
  if (comma) out->push_back(',');
}

void str(std::string_view name, std::string_view v, std::string* out, bool comma = true) {
  key(name, out);
  append_json_string(v, out);
  if (comma) out->push_back(',');
}

// Rows of cells rendered with columns padded to their widest cell.
std::string aligned(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i > 0) out += "  ";
      out += row[i];
      if (i + 1 < row.size()) out.append(width[i] - row[i].size(), ' ');
    }
    out += '\n';
  }
  return out;
}

std::string rejections_text(const CampaignFigures& c) {
  std::string out;
  for (const auto& [reason, n] : c.rejections) {
    if (!out.empty()) out += ' ';
    out += reason + "=" + std::to_string(n);
  }
  return out.empty() ? "-" : out;
}

}  // namespace

void append_json_string(std::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void append_campaign_json(const CampaignFigures& c, std::string* out) {
  out->push_back('{');
  str("campaignId", c.campaign_id, out);
  str("status", c.status, out);
  str("currency", c.currency, out);
  key("funders", out);
  out->push_back('[');
  for (std::size_t i = 0; i < c.funders.size(); ++i) {
    const auto& f = c.funders[i];
    if (i > 0) out->push_back(',');
    out->push_back('{');
    str("funderId", f.funder_id, out);
    num("budget", f.budget, out);
    num("available", f.available, out);
    num("reserved", f.reserved, out);
    num("spent", f.spent, out, false);
    out->push_back('}');
  }
  *out += "],";
  key("coupons", out);
  out->push_back('{');
  num("granted", c.coupons.granted, out);
  num("redeemed", c.coupons.redeemed, out);
  num("expired", c.coupons.expired, out);
  num("void", c.coupons.voided, out);
  num("outstanding", c.coupons.outstanding, out, false);
  *out += "},";
  key("rejections", out);
  out->push_back('{');
  for (std::size_t i = 0; i < c.rejections.size(); ++i) {
    num(c.rejections[i].first, c.rejections[i].second, out, i + 1 < c.rejections.size());
  }
  *out += "}}";
}

void append_market_json(const MarketFigures& m, std::string* out) {
  out->push_back('{');
  str("marketId", m.market_id, out);
  num("enrolled", m.enrolled, out);
  num("channels", m.channels, out);
  num("adoptionBps", m.adoption_bps, out);
  num("friends", m.friends, out);
  num("friendAdds", m.friend_adds, out);
  num("messages", m.messages, out);
  num("recipients", m.recipients, out);
  num("welcomeGranted", m.welcome_granted, out);
  num("welcomeRedeemed", m.welcome_redeemed, out, false);
  out->push_back('}');
}

std::string report_json(const Report& report) {
  std::string out = "{\"campaigns\":[";
  for (std::size_t i = 0; i < report.campaigns.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_campaign_json(report.campaigns[i], &out);
  }
  out += "],\"markets\":[";
  for (std::size_t i = 0; i < report.markets.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_market_json(report.markets[i], &out);
  }
  out += "]}\n";
  return out;
}

std::string report_csv(const Report& report) {
  std::string out =
      "campaignId,status,currency,funderId,budget,available,reserved,spent,granted,redeemed,expired,void,"
      "outstanding\n";
  for (const auto& c : report.campaigns) {
    for (const auto& f : c.funders) {
      const auto& k = c.coupons;
      out += c.campaign_id + "," + c.status + "," + c.currency + "," + f.funder_id + "," + std::to_string(f.budget) +
             "," + std::to_string(f.available) + "," + std::to_string(f.reserved) + "," + std::to_string(f.spent) +
             "," + std::to_string(k.granted) + "," + std::to_string(k.redeemed) + "," + std::to_string(k.expired) +
             "," + std::to_string(k.voided) + "," + std::to_string(k.outstanding) + "\n";
    }
  }
  out += "\nmarketId,enrolled,channels,adoptionBps,friends,friendAdds,messages,recipients,welcomeGranted,"
         "welcomeRedeemed\n";
  for (const auto& m : report.markets) {
    out += m.market_id + "," + std::to_string(m.enrolled) + "," + std::to_string(m.channels) + "," +
           std::to_string(m.adoption_bps) + "," + std::to_string(m.friends) + "," + std::to_string(m.friend_adds) +
           "," + std::to_string(m.messages) + "," + std::to_string(m.recipients) + "," +
           std::to_string(m.welcome_granted) + "," + std::to_string(m.welcome_redeemed) + "\n";
  }
  return out;
}

std::string report_table(const Report& report) {
  std::vector<std::vector<std::string>> rows = {
      {"CAMPAIGN", "STATUS", "FUNDER", "BUDGET", "AVAILABLE", "RESERVED", "SPENT"}};
  for (const auto& c : report.campaigns) {
    for (const auto& f : c.funders) {
      rows.push_back({c.campaign_id, c.status, f.funder_id, std::to_string(f.budget), std::to_string(f.available),
                      std::to_string(f.reserved), std::to_string(f.spent)});
    }
  }
  std::string out = aligned(rows);
  rows = {{"CAMPAIGN", "GRANTED", "REDEEMED", "EXPIRED", "VOID", "OUTSTANDING", "REJECTIONS"}};
  for (const auto& c : report.campaigns) {
    const auto& k = c.coupons;
    rows.push_back({c.campaign_id, std::to_string(k.granted), std::to_string(k.redeemed), std::to_string(k.expired),
                    std::to_string(k.voided), std::to_string(k.outstanding), rejections_text(c)});
  }
  out += "\n" + aligned(rows);
  rows = {{"MARKET", "ENROLLED", "CHANNELS", "ADOPTION", "FRIENDS", "ADDS", "MESSAGES", "RECIPIENTS", "WELCOME",
           "REDEEMED"}};
  for (const auto& m : report.markets) {
    char adoption[48];
    std::snprintf(adoption, sizeof adoption, "%lld.%02lld%%", static_cast<long long>(m.adoption_bps / 100),
                  static_cast<long long>(m.adoption_bps % 100));
    rows.push_back({m.market_id, std::to_string(m.enrolled), std::to_string(m.channels), adoption,
                    std::to_string(m.friends), std::to_string(m.friend_adds), std::to_string(m.messages),
                    std::to_string(m.recipients), std::to_string(m.welcome_granted),
                    std::to_string(m.welcome_redeemed)});
  }
  out += "\n" + aligned(rows);
  return out;
}

std::string format_report(const Report& report, ReportFormat format) {
  switch (format) {
    case ReportFormat::kJson: return report_json(report);
    case ReportFormat::kCsv: return report_csv(report);
    case ReportFormat::kTable: return report_table(report);
  }
  return {};
}

}  // namespace dangol::ctl
