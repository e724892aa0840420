// hopgate_audit_disk_free_bytes and hopgate_recordings_disk_free_bytes:
// the bytes an unprivileged writer may still use (statvfs f_bavail *
// f_frsize) on the file systems holding the audit log and the recordings,
// read at scrape time so an alert sees the disk fill before writes fail.
// Private to the metrics package; thread-safe.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <mutex>
#include <string>
#include <vector>

namespace hopgate::proxy {

class DiskCollector : public prometheus::Collectable {
 public:
  // Paths whose file systems are reported; an empty one is not reported.
  void Watch(std::string audit_log, std::string recordings_dir);
  std::vector<prometheus::MetricFamily> Collect() const override;
  // Free bytes on the file system holding `path` (its nearest existing
  // ancestor, for a file or directory not yet created); -1 if unknown.
  static double FreeBytes(const std::string& path);

 private:
  mutable std::mutex mu_;
  std::string audit_log_;
  std::string recordings_dir_;
};

}  // namespace hopgate::proxy
