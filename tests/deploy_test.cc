// The deployment files that cannot run here (Kubernetes manifests, the
// container recipe, the Grafana dashboard) checked against the gateway they
// deploy: the config they ship passes `hopgate --check`, their ports, paths
// and probes are the ones a real gateway uses, and every metric the
// dashboard queries appears in a real /metrics scrape.
#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include <map>
#include <regex>
#include <set>

#include "tests/support/harness.h"

using namespace hopgate::testing;

namespace {

const char* kManifests[] = {"configmap.yaml", "deployment.yaml", "service.yaml", "pdb.yaml",
                            "podmonitor.yaml", "pvc.yaml",      "secret.yaml",  "kustomization.yaml"};

std::string Manifest(const std::string& name) { return "deploy/kubernetes/" + name; }

// The first document of `kind` among the manifests.
YAML::Node Find(const std::string& kind) {
  for (const char* f : kManifests) {
    for (const YAML::Node& doc : YAML::LoadAllFromFile(Manifest(f))) {
      if (doc["kind"] && doc["kind"].as<std::string>() == kind) return doc;
    }
  }
  FAIL("no " << kind << " among deploy/kubernetes/*.yaml");
  return {};
}

int PortOf(const std::string& host_port) {
  return std::stoi(host_port.substr(host_port.rfind(':') + 1));
}

YAML::Node Container() { return Find("Deployment")["spec"]["template"]["spec"]["containers"][0]; }

int ContainerPort(const std::string& name) {
  for (const YAML::Node& p : Container()["ports"]) {
    if (p["name"].as<std::string>() == name) return p["containerPort"].as<int>();
  }
  FAIL("the container has no port named " << name);
  return 0;
}

// The absolute paths the shipped config names.
std::vector<std::string> ConfigPaths(const YAML::Node& cfg) {
  std::vector<std::string> paths = {cfg["policy"].as<std::string>(),
                                    cfg["audit"]["log"].as<std::string>(),
                                    cfg["audit"]["recordings"].as<std::string>(),
                                    cfg["audit"]["signing_key"].as<std::string>(),
                                    cfg["authentication"]["trusted_user_ca_keys"].as<std::string>()};
  for (const YAML::Node& k : cfg["host_keys"]) paths.push_back(k.as<std::string>());
  for (const YAML::Node& k : cfg["recording"]["host_keys"]) paths.push_back(k.as<std::string>());
  return paths;
}

std::string Basename(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

TEST_CASE("every Kubernetes manifest parses and names its kind") {
  std::set<std::string> kinds;
  for (const char* f : kManifests) {
    INFO(f);
    std::vector<YAML::Node> docs = YAML::LoadAllFromFile(Manifest(f));
    REQUIRE(!docs.empty());
    for (const YAML::Node& doc : docs) {
      REQUIRE(doc["apiVersion"]);
      REQUIRE(doc["kind"]);
      kinds.insert(doc["kind"].as<std::string>());
      if (doc["kind"].as<std::string>() != "Kustomization") {
        CHECK(doc["metadata"]["name"].as<std::string>().find("hopgate") == 0);
      }
    }
  }
  for (const char* k : {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "PodMonitor",
                        "PersistentVolumeClaim", "Secret", "Kustomization"}) {
    CHECK(kinds.count(k) == 1);
  }
  // kubectl apply -k takes every manifest but the Secret's placeholders.
  std::set<std::string> listed;
  for (const YAML::Node& r : YAML::LoadFile(Manifest("kustomization.yaml"))["resources"]) {
    listed.insert(r.as<std::string>());
    CHECK(ReadFile(Manifest(r.as<std::string>())).size() > 0);
  }
  CHECK(listed.count("secret.yaml") == 0);
  CHECK(listed.size() == std::size(kManifests) - 2);
}

TEST_CASE("the Deployment runs two replicas apart, drains, and mounts what the config names") {
  YAML::Node deployment = Find("Deployment");
  YAML::Node pod = deployment["spec"]["template"]["spec"];
  YAML::Node cfg = YAML::Load(Find("ConfigMap")["data"]["hopgate.yaml"].as<std::string>());
  CHECK(deployment["spec"]["replicas"].as<int>() == 2);
  CHECK(pod["affinity"]["podAntiAffinity"]);
  CHECK(Find("PodDisruptionBudget")["spec"]["minAvailable"].as<int>() == 1);

  // Ports: the listener and metrics address of the config.
  YAML::Node listen = cfg["listen"][0];
  REQUIRE(listen.IsMap());
  CHECK(listen["proxy_protocol"].as<bool>());
  CHECK(PortOf(listen["address"].as<std::string>()) == ContainerPort("ssh"));
  CHECK(PortOf(cfg["metrics"]["listen"].as<std::string>()) == ContainerPort("metrics"));
  YAML::Node service = Find("Service");
  CHECK(service["spec"]["ports"][0]["targetPort"].as<std::string>() == "ssh");
  CHECK(service["spec"]["ports"][0]["port"].as<int>() == 22);
  CHECK(Find("PodMonitor")["spec"]["podMetricsEndpoints"][0]["port"].as<std::string>() ==
        "metrics");
  CHECK(Find("PodMonitor")["spec"]["podMetricsEndpoints"][0]["path"].as<std::string>() ==
        "/metrics");

  // SIGTERM drains for limits.drain_timeout; Kubernetes must wait longer.
  std::string drain = cfg["limits"]["drain_timeout"].as<std::string>();
  REQUIRE(drain.back() == 'm');
  int drain_s = std::stoi(drain) * 60;
  CHECK(pod["terminationGracePeriodSeconds"].as<int>() > drain_s);

  // Every file the config names lies under a mount; keys come from the
  // Secret by their file names, read-only and root-only.
  std::map<std::string, std::string> mounts;  // mountPath -> volume
  for (const YAML::Node& m : Container()["volumeMounts"]) {
    mounts[m["mountPath"].as<std::string>()] = m["name"].as<std::string>();
  }
  YAML::Node secret_data = Find("Secret")["stringData"];
  for (const std::string& path : ConfigPaths(cfg)) {
    INFO(path);
    std::string volume;
    for (const auto& [mount, name] : mounts) {
      if (path == mount || path.rfind(mount + "/", 0) == 0) volume = name;
    }
    CHECK(!volume.empty());
    if (volume == "keys") CHECK(secret_data[Basename(path)]);
  }
  for (const YAML::Node& v : pod["volumes"]) {
    if (v["name"].as<std::string>() == "keys") CHECK(v["secret"]["defaultMode"].as<int>() == 0400);
  }
  // The account hopgate switches to is the image's, whose group owns the
  // audit volume.
  std::string recipe = ReadFile("deploy/container/Containerfile");
  CHECK(cfg["user"].as<std::string>() == "hopgate");
  std::smatch gid;
  REQUIRE(std::regex_search(recipe, gid, std::regex("groupadd --system --gid ([0-9]+) hopgate")));
  CHECK(pod["securityContext"]["fsGroup"].as<std::string>() == gid[1].str());
  CHECK(recipe.find("EXPOSE " + std::to_string(ContainerPort("ssh")) + " " +
                    std::to_string(ContainerPort("metrics"))) != std::string::npos);
}

TEST_CASE("the shipped config and policy pass hopgate --check, and its probes answer") {
  std::string dir = MakeTempDir("deploy");
  YAML::Node data = Find("ConfigMap")["data"];
  // The config as the pod sees it, with its directories moved under the
  // test's and the keys the Secret would hold generated. `user:` is left
  // out: this machine has no hopgate account (checked above instead).
  std::string cfg = data["hopgate.yaml"].as<std::string>();
  for (const char* from : {"/etc/hopgate", "/var/log/hopgate"}) {
    for (size_t at = cfg.find(from); at != std::string::npos;
         at = cfg.find(from, at + dir.size() + std::strlen(from))) {
      cfg.replace(at, std::strlen(from), dir + from);
    }
  }
  cfg = std::regex_replace(cfg, std::regex("user: hopgate\n"), "");
  cfg = std::regex_replace(cfg, std::regex("0\\.0\\.0\\.0:[0-9]+"), "127.0.0.1:0");
  Run({"mkdir", "-p", dir + "/etc/hopgate/keys", dir + "/var/log/hopgate"});
  WriteFile(dir + "/etc/hopgate/hopgate.yaml", cfg, 0600);
  WriteFile(dir + "/etc/hopgate/policy.yaml", data["policy.yaml"].as<std::string>(), 0600);
  for (const char* key : {"host_ed25519", "recording_host_ed25519", "audit_signing_ed25519"}) {
    GenerateKey(dir + "/etc/hopgate/keys", key);
    Run({"chmod", "0400", dir + "/etc/hopgate/keys/" + key});
  }
  KeyPair ca = GenerateKey(dir, "user_ca");
  WriteFile(dir + "/etc/hopgate/keys/user_ca.pub", ca.public_line + "\n", 0400);

  RunResult check = Run({Gate::Binary(), "--config", dir + "/etc/hopgate/hopgate.yaml", "--check"});
  INFO(check.err);
  REQUIRE(check.exit_code == 0);

  // The probe paths of the Deployment, asked of a running gateway.
  Process gate({Gate::Binary(), "--config", dir + "/etc/hopgate/hopgate.yaml"}, dir + "/gate.log");
  std::smatch port;
  std::string log;  // outlives the match, which points into it
  REQUIRE(WaitUntil(
      [&] {
        log = ReadFile(dir + "/gate.log");
        return std::regex_search(log, port, std::regex("metrics on http://127\\.0\\.0\\.1:([0-9]+)/"));
      },
      10'000));
  std::string base = "http://127.0.0.1:" + port[1].str();
  for (const char* probe : {"readinessProbe", "livenessProbe"}) {
    std::string path = Container()[probe]["httpGet"]["path"].as<std::string>();
    CHECK(Container()[probe]["httpGet"]["port"].as<std::string>() == "metrics");
    INFO(probe << " " << path);
    CHECK(Run({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", base + path}).out == "200");
  }
}

TEST_CASE("every metric the Grafana dashboard queries is in a real scrape") {
  nlohmann::json dash = nlohmann::json::parse(ReadFile("deploy/grafana/hopgate.json"));
  CHECK(dash["uid"] == "hopgate-fleet");
  std::set<std::string> queried;
  std::regex metric("\\b((hopgate|process)_[a-z0-9_]+)");
  int targets = 0;
  for (const auto& panel : dash["panels"]) {
    INFO(panel["title"]);
    CHECK(panel["datasource"]["uid"] == "${datasource}");
    REQUIRE(!panel["targets"].empty());
    for (const auto& t : panel["targets"]) {
      std::string expr = t["expr"];
      ++targets;
      for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) {
        std::string name = (*it)[1];
        name = std::regex_replace(name, std::regex("_(bucket|sum|count)$"), "");
        queried.insert(name);
      }
    }
  }
  CHECK(targets >= 20);

  std::string dir = MakeTempDir("dashboard");
  // A replica of a fleet whose database is down (nothing listens on port 1):
  // the fleet gauges are there too.
  Gate gate(dir, "version: 1\nrules: []\n",
            "metrics:\n  listen: \"127.0.0.1:0\"\n"
            "fleet:\n  database: \"postgresql://hopgate@127.0.0.1:1/hopgate\"\n  node: dash\n");
  REQUIRE(gate.MetricsPort() != 0);
  std::string url = "http://127.0.0.1:" + std::to_string(gate.MetricsPort()) + "/metrics";
  std::string scrape;
  REQUIRE(WaitUntil(
      [&] {
        scrape = Run({"curl", "-s", url}).out;
        return scrape.find("# TYPE hopgate_fleet_database_up") != std::string::npos;
      },
      15'000));
  REQUIRE(scrape.find("# TYPE hopgate_build_info") != std::string::npos);
  for (const std::string& name : queried) {
    INFO(name);
    CHECK(scrape.find("# TYPE " + name + " ") != std::string::npos);
  }
}
