// The config's top-level `listen:` (part of ParseConfig, in its own file):
// each entry a "host:port" string or an object {address, proxy_protocol,
// proxy_from} for a listener behind a load balancer. Errors at FILE:LINE:COL.
// Internal to proxy/config; not thread-safe (one parse at a time).
#pragma once

#include <yaml-cpp/yaml.h>

#include "common/yaml_util.h"
#include "proxy/config/config.h"

namespace hopgate::proxy {

// Fills c->listen and c->listen_proxy from `root`'s `listen:` (required).
void ParseListen(const YAML::Node& root, Config* c, Diagnostics* d);

}  // namespace hopgate::proxy
