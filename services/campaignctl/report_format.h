#pragma once
// Renders engine reports (CONTRACT §4 `report`) as JSON, CSV or a table.

#include <string>

#include "engine/report.h"

namespace dangol::ctl {

enum class ReportFormat { kTable, kJson, kCsv };

// {"campaigns":[…],"markets":[…]} with plain JSON integers, keys as in CONTRACT §4.
std::string report_json(const Report& report);
// Two CSV tables separated by a blank line: one row per campaign funder, then
// one row per market.
std::string report_csv(const Report& report);
// Aligned columns for people.
std::string report_table(const Report& report);

std::string format_report(const Report& report, ReportFormat format);

// Appends `s` as a JSON string literal.
void append_json_string(std::string_view s, std::string* out);
// JSON objects for one campaign / market, shared with the HTTP API.
void append_campaign_json(const CampaignFigures& c, std::string* out);
void append_market_json(const MarketFigures& m, std::string* out);

}  // namespace dangol::ctl
