#include "proxy/config/config_listen.h"

#include "common/strings.h"

namespace hopgate::proxy {
namespace {

// One `listen:` address (a string), as given or inside an object entry.
std::optional<HostPort> ReadListenAddress(const YAML::Node& n, Diagnostics* d) {
  auto text = ReadString(n, "listen", d);
  if (!text) return std::nullopt;
  auto hp = HostPort::Parse(*text, /*allow_zero_port=*/true);
  if (!hp) {
    d->Error(n, "listen: " + hp.message());
  } else if (!IpAddress::Parse(hp->host) && hp->host != "localhost") {
    d->Error(n, "listen: " + Quote(hp->host) +
                    " must be an IP address (IPv6 in brackets) or localhost");
  } else {
    return *hp;
  }
  return std::nullopt;
}

// The object form of a `listen:` entry: {address, proxy_protocol, proxy_from}.
std::optional<HostPort> ReadListenObject(const YAML::Node& n, ListenProxy* proxy, Diagnostics* d) {
  if (!CheckMap(n, {"address", "proxy_protocol", "proxy_from"}, "listen entry", d)) {
    return std::nullopt;
  }
  bool ok = true;
  if (auto v = n["proxy_protocol"]) {
    auto b = ReadBool(v, "listen: proxy_protocol", d);
    ok = ok && b;
    if (b) proxy->enabled = *b;
  }
  if (auto v = n["proxy_from"]) {
    if (auto list = ReadStringList(v, "listen: proxy_from", d)) {
      for (size_t i = 0; i < list->size(); ++i) {
        auto cidr = Cidr::Parse((*list)[i]);
        if (!cidr) {
          d->Error(v[i], "listen: proxy_from: " + cidr.message());
          ok = false;
        } else {
          proxy->from.push_back(*cidr);
        }
      }
      if (list->empty()) {
        d->Error(v, "listen: proxy_from must name at least one address or CIDR block");
        ok = false;
      } else if (!proxy->enabled && ok) {
        d->Error(v, "listen: proxy_from needs proxy_protocol: true");
        ok = false;
      }
    } else {
      ok = false;
    }
  } else if (proxy->enabled) {
    d->Error(n, "listen: proxy_protocol: true needs proxy_from, the load balancers' addresses "
                "(e.g. proxy_from: [\"10.0.0.0/8\"])");
    ok = false;
  }
  auto address = n["address"];
  if (!address) {
    d->Error(n, "listen entry: missing address (e.g. address: \"0.0.0.0:2222\")");
    return std::nullopt;
  }
  auto hp = ReadListenAddress(address, d);
  if (!ok) return std::nullopt;
  return hp;
}

}  // namespace

void ParseListen(const YAML::Node& r, Config* c, Diagnostics* d) {
  auto n = r["listen"];
  if (!n) {
    d->Error(r, "missing listen (e.g. listen: [\"0.0.0.0:2222\"])");
    return;
  }
  c->where["listen"] = d->Locate(n);
  if (!n.IsSequence()) {
    d->Error(n, "listen must be a list, e.g. [\"0.0.0.0:2222\"]");
    return;
  }
  if (n.size() == 0) d->Error(n, "listen must name at least one host:port");
  for (size_t i = 0; i < n.size(); ++i) {
    ListenProxy proxy;
    std::optional<HostPort> hp;
    if (n[i].IsMap()) {
      hp = ReadListenObject(n[i], &proxy, d);
    } else {
      hp = ReadListenAddress(n[i], d);
    }
    if (!hp) continue;
    c->listen.push_back(*hp);
    c->listen_proxy.push_back(std::move(proxy));
  }
}

}  // namespace hopgate::proxy
