// The standard process_* metrics (CPU, memory, start time, descriptors),
// read from /proc/self at scrape time. Private to the metrics package.
// Collect() keeps no state, so it may run on any thread.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace hopgate::proxy {

class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  // The space-separated fields of /proc/self/stat after "(comm)", which may
  // itself contain spaces and parentheses: split after the last ')'.
  static std::vector<std::string> StatFields();
  static double BootTime();
  static int OpenFds();
};

}  // namespace hopgate::proxy
