// DiskCollector: free space on the audit log's and recordings' file
// systems, by statvfs at scrape time.

#include "proxy/metrics/disk_collector.h"

#include <sys/statvfs.h>

#include <utility>

namespace hopgate::proxy {
namespace {

prometheus::MetricFamily Gauge(const char* name, const char* help, double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric metric;
  metric.gauge.value = value;
  family.metric.push_back(metric);
  return family;
}

}  // namespace

void DiskCollector::Watch(std::string audit_log, std::string recordings_dir) {
  std::lock_guard<std::mutex> lock(mu_);
  audit_log_ = std::move(audit_log);
  recordings_dir_ = std::move(recordings_dir);
}

double DiskCollector::FreeBytes(const std::string& path) {
  std::string at = path;
  while (!at.empty()) {
    struct statvfs vfs {};
    if (statvfs(at.c_str(), &vfs) == 0) {
      return static_cast<double>(vfs.f_bavail) * static_cast<double>(vfs.f_frsize);
    }
    // Not there (yet): the file system of the directory it would be made in.
    size_t slash = at.find_last_of('/');
    if (slash == std::string::npos) {
      at = ".";
      continue;
    }
    if (at == "." || slash == 0) {
      at = at == "." || at == "/" ? "" : "/";
      continue;
    }
    at.erase(slash);
  }
  return -1;
}

std::vector<prometheus::MetricFamily> DiskCollector::Collect() const {
  std::string audit_log, recordings;
  {
    std::lock_guard<std::mutex> lock(mu_);
    audit_log = audit_log_;
    recordings = recordings_dir_;
  }
  std::vector<prometheus::MetricFamily> out;
  if (double free = audit_log.empty() ? -1 : FreeBytes(audit_log); free >= 0) {
    out.push_back(Gauge("hopgate_audit_disk_free_bytes",
                        "Bytes free (for unprivileged writers) on the file system holding the "
                        "audit log.",
                        free));
  }
  if (double free = recordings.empty() ? -1 : FreeBytes(recordings); free >= 0) {
    out.push_back(Gauge("hopgate_recordings_disk_free_bytes",
                        "Bytes free (for unprivileged writers) on the file system holding "
                        "audit.recordings.",
                        free));
  }
  return out;
}

}  // namespace hopgate::proxy
