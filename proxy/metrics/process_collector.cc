// ProcessCollector: process_* metrics from /proc/self, /proc/stat and
// getrlimit, read at scrape time.

#include "proxy/metrics/process_collector.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace hopgate::proxy {
namespace {

// A family of one unlabelled sample, counter or gauge.
prometheus::MetricFamily OneValue(const char* name, const char* help, prometheus::MetricType type,
                                  double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(metric);
  return family;
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  std::vector<std::string> stat = StatFields();
  // Fields after "(comm)": index 0 is field 3 (state) of proc(5), so
  // utime (14) is 11, stime (15) is 12, starttime (22) is 19, vsize (23)
  // is 20 and rss (24) is 21.
  if (stat.size() > 21 && ticks > 0) {
    double utime = std::strtod(stat[11].c_str(), nullptr);
    double stime = std::strtod(stat[12].c_str(), nullptr);
    out.push_back(OneValue("process_cpu_seconds_total",
                           "Total user and system CPU time spent in seconds.",
                           prometheus::MetricType::Counter, (utime + stime) / ticks));
    out.push_back(OneValue("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                           prometheus::MetricType::Gauge,
                           std::strtod(stat[20].c_str(), nullptr)));
    out.push_back(OneValue("process_resident_memory_bytes", "Resident memory size in bytes.",
                           prometheus::MetricType::Gauge,
                           std::strtod(stat[21].c_str(), nullptr) * page));
    double boot = BootTime();
    if (boot > 0) {
      out.push_back(OneValue(
          "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
          prometheus::MetricType::Gauge, boot + std::strtod(stat[19].c_str(), nullptr) / ticks));
    }
  }
  if (int fds = OpenFds(); fds >= 0) {
    out.push_back(OneValue("process_open_fds", "Number of open file descriptors.",
                           prometheus::MetricType::Gauge, fds));
  }
  struct rlimit limit {};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    out.push_back(OneValue("process_max_fds", "Maximum number of open file descriptors.",
                           prometheus::MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
  }
  return out;
}

std::vector<std::string> ProcessCollector::StatFields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return {};
  size_t close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string field; rest >> field;) fields.push_back(field);
  return fields;
}

double ProcessCollector::BootTime() {
  std::ifstream in("/proc/stat");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("btime ", 0) == 0) return std::strtod(line.c_str() + 6, nullptr);
  }
  return 0;
}

int ProcessCollector::OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int own = dirfd(dir);
  int count = 0;
  while (struct dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    if (std::atoi(entry->d_name) == own) continue;  // the fd reading the directory
    ++count;
  }
  closedir(dir);
  return count;
}

}  // namespace hopgate::proxy
