#include "services/http/prometheus.h"

#include <cmath>
#include <charconv>

namespace dangol::http {
namespace {

void append_escaped(std::string_view value, bool help, std::string* out) {
  for (char c : value) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '\n') {
      *out += "\\n";
    } else if (c == '"' && !help) {
      *out += "\\\"";
    } else {
      *out += c;
    }
  }
}

void append_double(double v, std::string* out) {
  if (std::isinf(v)) {
    *out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (std::isnan(v)) {
    *out += "NaN";
    return;
  }
  // The shortest text that reads back as the same double ("0.1", not
  // "0.10000000000000001").
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, ec == std::errc() ? static_cast<std::size_t>(end - buf) : 0);
}

}  // namespace

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_escaped(help, true, &out_);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PrometheusText::series(std::string_view name, Labels labels, std::string_view extra_label,
                            std::string_view extra_value) {
  out_ += name;
  if (labels.size() == 0 && extra_label.empty()) return;
  out_ += '{';
  bool first = true;
  auto label = [&](std::string_view k, std::string_view v) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    append_escaped(v, false, &out_);
    out_ += '"';
  };
  for (const auto& [k, v] : labels) label(k, v);
  if (!extra_label.empty()) label(extra_label, extra_value);
  out_ += '}';
}

void PrometheusText::sample(std::string_view name, Labels labels, double value) {
  series(name, labels);
  out_ += ' ';
  append_double(value, &out_);
  out_ += '\n';
}

void PrometheusText::sample(std::string_view name, Labels labels, std::int64_t value) {
  series(name, labels);
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

void PrometheusText::histogram(std::string_view name, Labels labels, std::span<const double> upper_bounds,
                               std::span<const std::int64_t> counts, double sum) {
  const std::string bucket = std::string(name) + "_bucket";
  std::int64_t cumulative = 0;
  std::string le;
  for (std::size_t i = 0; i <= upper_bounds.size() && i < counts.size(); ++i) {
    cumulative += counts[i];
    le.clear();
    if (i < upper_bounds.size()) {
      append_double(upper_bounds[i], &le);
    } else {
      le = "+Inf";
    }
    series(bucket, labels, "le", le);
    out_ += ' ';
    out_ += std::to_string(cumulative);
    out_ += '\n';
  }
  sample(std::string(name) + "_sum", labels, sum);
  sample(std::string(name) + "_count", labels, cumulative);
}

}  // namespace dangol::http
