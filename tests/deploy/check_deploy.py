#!/usr/bin/env python3
"""Static check of deploy/: the Dockerfile, docker compose file and Kubernetes
manifests agree with each other, with the repository and with CONTRACT §2/§5.

Proves, without Docker or a cluster:
  * every YAML file under deploy/ parses (all documents);
  * every Kubernetes document has apiVersion, kind and metadata.name, sets no
    namespace, and kustomization.yaml lists exactly the manifests there;
  * the StatefulSet runs one replica whose liveness/readiness probes are
    httpGet /healthz and /readyz on the container port campaignd serves HTTP
    on, with its state dir on a volumeClaimTemplate and its auth file from a
    Secret that exists;
  * compose services, depends_on targets, named volumes, bind-mount sources and
    the build context/Dockerfile resolve;
  * campaignd is given only flags it has (CONTRACT §5 and the operational
    ones), each with a value where one is needed;
  * the topic creators (compose `topics` service, k8s Job) create the events,
    decisions and dlq topics with --if-not-exists and one partition count;
  * the Dockerfile has at least two stages, a non-root final USER and COPY
    sources that exist in the repository and are not excluded by
    .dockerignore;
  * the example auth files follow CONTRACT §5.

usage: check_deploy.py [REPO_ROOT]     exit 0 ok, 1 problems found, 2 usage
"""

import fnmatch
import json
import os
import re
import shlex
import sys

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the machine
    print("deploy_check: python3-yaml is missing (scripts/install-deps.sh installs it)", file=sys.stderr)
    sys.exit(2)

# campaignd's flags (CONTRACT §5 plus --batch-records, --batch-wait-ms,
# --log-level). Every flag but --demo takes a value.
CAMPAIGND_FLAGS = {
    "--brokers", "--state-dir", "--http", "--group", "--partitions", "--events-topic",
    "--decisions-topic", "--dlq-topic", "--decisions-format", "--auth-file", "--demo",
    "--batch-records", "--batch-wait-ms", "--log-level",
}
CAMPAIGND_BOOLEAN_FLAGS = {"--demo"}
CAMPAIGND_REQUIRED_FLAGS = {"--brokers", "--state-dir"}
FLAG_CHOICES = {
    "--decisions-format": {"pb", "json"},
    "--log-level": {"trace", "debug", "info", "warn", "error"},
}
DEFAULT_TOPICS = {
    "--events-topic": "campaign.events",
    "--decisions-topic": "campaign.decisions",
    "--dlq-topic": "campaign.dlq",
}
ROLES = {"admin", "finance", "ingest"}
MERCHANT_ROLE = re.compile(r"^merchant:[A-Za-z0-9._:-]{1,64}$")
COMPOSE_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
ROOT_USERS = {"root", "0"}


class Checker:
    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.deploy = os.path.join(self.root, "deploy")
        self.problems = []
        self.docs = {}  # relative path -> list of parsed documents
        self.statefulset_flags = {}  # campaignd's flags in the StatefulSet

    def problem(self, where, message):
        self.problems.append(f"{where}: {message}")

    def rel(self, path):
        return os.path.relpath(path, self.root)

    # ------------------------------------------------------------ YAML
    def load_yaml(self):
        found = []
        for dirpath, dirnames, filenames in os.walk(self.deploy):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith((".yaml", ".yml")):
                    found.append(os.path.join(dirpath, name))
        if not found:
            self.problem("deploy/", "no YAML files found")
        for path in found:
            try:
                with open(path, encoding="utf-8") as f:
                    docs = [d for d in yaml.safe_load_all(f) if d is not None]
            except yaml.YAMLError as e:
                self.problem(self.rel(path), f"does not parse as YAML: {e}")
                continue
            self.docs[self.rel(path)] = docs

    # ------------------------------------------------------------ Kubernetes
    def k8s_docs(self):
        out = []
        for path, docs in self.docs.items():
            if path.startswith(os.path.join("deploy", "k8s") + os.sep):
                out.extend((path, d) for d in docs)
        return out

    def find_k8s(self, kind, name=None):
        return [(p, d) for p, d in self.k8s_docs()
                if isinstance(d, dict) and d.get("kind") == kind
                and (name is None or (d.get("metadata") or {}).get("name") == name)]

    def check_k8s(self):
        k8s_dir = os.path.join(self.deploy, "k8s")
        if not os.path.isdir(k8s_dir):
            self.problem("deploy/k8s", "missing")
            return
        for path, doc in self.k8s_docs():
            if not isinstance(doc, dict):
                self.problem(path, "a document is not a mapping")
                continue
            for key in ("apiVersion", "kind"):
                if not doc.get(key):
                    self.problem(path, f"a document has no {key}")
            if doc.get("kind") == "Kustomization":
                continue
            meta = doc.get("metadata")
            if not isinstance(meta, dict) or not meta.get("name"):
                self.problem(path, f"{doc.get('kind', '?')} has no metadata.name")
                continue
            if "namespace" in meta:
                self.problem(path, f"{doc['kind']}/{meta['name']} sets metadata.namespace; the manifests must be namespace-agnostic")
        self.check_kustomization(k8s_dir)
        self.check_configmap_refs()
        self.check_statefulset()

    def check_kustomization(self, k8s_dir):
        kust = [(p, d) for p, d in self.k8s_docs() if isinstance(d, dict) and d.get("kind") == "Kustomization"]
        if len(kust) != 1:
            self.problem("deploy/k8s", f"expected one kustomization.yaml, found {len(kust)}")
            return
        path, doc = kust[0]
        resources = doc.get("resources") or []
        for r in resources:
            if not os.path.exists(os.path.join(k8s_dir, r)):
                self.problem(path, f"resource {r} does not exist")
        manifests = {os.path.basename(p) for p, _ in self.k8s_docs() if p != path}
        for m in sorted(manifests - set(resources)):
            self.problem(path, f"{m} is not listed in resources")

    def configmap_value(self, name, key):
        for _, cm in self.find_k8s("ConfigMap", name):
            data = cm.get("data") or {}
            if key in data:
                return str(data[key])
        return None

    def pod_specs(self):
        for path, doc in self.k8s_docs():
            if not isinstance(doc, dict):
                continue
            spec = doc.get("spec") or {}
            template = (spec.get("template") or {}).get("spec")
            if isinstance(template, dict):
                yield path, doc, template

    def check_configmap_refs(self):
        for path, doc, pod in self.pod_specs():
            for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
                for e in c.get("env") or []:
                    ref = ((e.get("valueFrom") or {}).get("configMapKeyRef")) or None
                    if ref and not ref.get("optional") and self.configmap_value(ref.get("name"), ref.get("key")) is None:
                        self.problem(path, f"env {e.get('name')} refers to ConfigMap {ref.get('name')} key {ref.get('key')}, which is not in deploy/k8s")
            for v in pod.get("volumes") or []:
                secret = (v.get("secret") or {}).get("secretName")
                if secret and not self.find_k8s("Secret", secret):
                    self.problem(path, f"volume {v.get('name')} mounts Secret {secret}, which is not in deploy/k8s")
                cm = (v.get("configMap") or {}).get("name")
                if cm and not self.find_k8s("ConfigMap", cm):
                    self.problem(path, f"volume {v.get('name')} mounts ConfigMap {cm}, which is not in deploy/k8s")

    def k8s_env(self, container):
        """The container's env with literal values and ConfigMap values resolved."""
        env = {}
        for e in container.get("env") or []:
            if "value" in e:
                env[e["name"]] = str(e["value"])
            ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
            if ref:
                value = self.configmap_value(ref.get("name"), ref.get("key"))
                if value is not None:
                    env[e["name"]] = value
        return env

    def check_statefulset(self):
        sets = self.find_k8s("StatefulSet")
        if len(sets) != 1:
            self.problem("deploy/k8s", f"expected exactly one StatefulSet, found {len(sets)}")
            return
        path, sts = sets[0]
        spec = sts.get("spec") or {}
        where = f"{path}: StatefulSet/{sts['metadata'].get('name')}"
        if spec.get("replicas") != 1:
            self.problem(where, f"replicas must be 1 (campaignd is the only writer of its state), not {spec.get('replicas')}")
        if spec.get("serviceName") and not self.find_k8s("Service", spec["serviceName"]):
            self.problem(where, f"serviceName {spec['serviceName']} is not a Service in deploy/k8s")
        template = spec.get("template") or {}
        pod = template.get("spec") or {}
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        if str(annotations.get("prometheus.io/scrape")) != "true" or annotations.get("prometheus.io/path") != "/metrics":
            self.problem(where, "pod template needs annotations prometheus.io/scrape: \"true\" and prometheus.io/path: /metrics")
        if (pod.get("terminationGracePeriodSeconds") or 30) < 30:
            self.problem(where, "terminationGracePeriodSeconds must be at least 30 (campaignd finishes its batch on SIGTERM)")
        if not (pod.get("securityContext") or {}).get("runAsNonRoot"):
            self.problem(where, "pod securityContext.runAsNonRoot must be true")
        containers = [c for c in pod.get("containers") or [] if "campaignd" in str(c.get("image", ""))]
        if len(containers) != 1:
            self.problem(where, "expected one container running the campaignd image")
            return
        c = containers[0]
        argv = [str(a) for a in (c.get("command") or [])] + [str(a) for a in (c.get("args") or [])]
        if argv and argv[0] in ("campaignd", "/usr/local/bin/campaignd"):
            argv = argv[1:]
        env = self.k8s_env(c)
        flags = self.check_campaignd_args(where, argv, lambda s: re.sub(
            r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), s))
        self.statefulset_flags = flags
        http_port = self.http_port(where, flags)
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        if http_port is not None and http_port not in ports.values():
            self.problem(where, f"no containerPort {http_port} (campaignd --http)")
        if http_port is not None and str(annotations.get("prometheus.io/port")) != str(http_port):
            self.problem(where, f"annotation prometheus.io/port must be \"{http_port}\"")
        for probe, allowed in (("livenessProbe", {"/healthz"}), ("readinessProbe", {"/readyz"}),
                               ("startupProbe", {"/healthz", "/readyz"})):
            p = c.get(probe)
            if p is None:
                if probe != "startupProbe":
                    self.problem(where, f"{probe} is missing")
                continue
            get = p.get("httpGet")
            if not isinstance(get, dict):
                self.problem(where, f"{probe} must be an httpGet probe")
                continue
            if get.get("path") not in allowed:
                self.problem(where, f"{probe} path is {get.get('path')!r}, expected {' or '.join(sorted(allowed))}")
            port = get.get("port")
            number = ports.get(port) if isinstance(port, str) else port
            if number is None or number not in ports.values():
                self.problem(where, f"{probe} port {port!r} is not a port of the container")
            elif http_port is not None and number != http_port:
                self.problem(where, f"{probe} port {port!r} is {number}, but campaignd serves HTTP on {http_port}")
        mounts = {m.get("mountPath"): m.get("name") for m in c.get("volumeMounts") or []}
        claims = {(t.get("metadata") or {}).get("name") for t in spec.get("volumeClaimTemplates") or []}
        state_dir = flags.get("--state-dir")
        if state_dir and not any(mounts.get(d) in claims for d in parents_of(state_dir)):
            self.problem(where, f"--state-dir {state_dir} is not mounted from a volumeClaimTemplate")
        auth = flags.get("--auth-file")
        if auth:
            volumes = {v.get("name"): v for v in pod.get("volumes") or []}
            mount = mounts.get(os.path.dirname(auth))
            if mount is None or "secret" not in (volumes.get(mount) or {}):
                self.problem(where, f"--auth-file {auth}: its directory is not mounted from a Secret")

    # ------------------------------------------------------------ campaignd flags
    def check_campaignd_args(self, where, argv, resolve=lambda s: s):
        """Checks campaignd's argv; returns {flag: resolved value}."""
        flags = {}
        i = 0
        while i < len(argv):
            arg = argv[i]
            if not arg.startswith("--"):
                self.problem(where, f"campaignd argument {arg!r} is not a flag (campaignd takes no positional arguments)")
                i += 1
                continue
            name, eq, value = arg.partition("=")
            if name not in CAMPAIGND_FLAGS:
                self.problem(where, f"campaignd has no flag {name}")
                i += 1
                continue
            if name in flags:
                self.problem(where, f"campaignd flag {name} is given twice")
            if name in CAMPAIGND_BOOLEAN_FLAGS:
                if eq:
                    self.problem(where, f"{name} takes no value")
                flags[name] = True
                i += 1
                continue
            if not eq:
                if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                    self.problem(where, f"campaignd flag {name} needs a value")
                    i += 1
                    continue
                value = argv[i + 1]
                i += 1
            i += 1
            value = resolve(str(value))
            flags[name] = value
            if name in FLAG_CHOICES and "$" not in value and value not in FLAG_CHOICES[name]:
                self.problem(where, f"{name} {value!r} is not one of {', '.join(sorted(FLAG_CHOICES[name]))}")
            if not value:
                self.problem(where, f"{name} has an empty value")
        for name in sorted(CAMPAIGND_REQUIRED_FLAGS - set(flags)):
            self.problem(where, f"campaignd needs {name}")
        if flags.get("--brokers") == "embedded":
            self.problem(where, "--brokers embedded is the in-memory development broker; deploy against real brokers")
        return flags

    def http_port(self, where, flags):
        http = flags.get("--http")
        if http is None:
            self.problem(where, "campaignd needs --http HOST:PORT for the probes and the API")
            return None
        host, _, port = str(http).rpartition(":")
        if not port.isdigit():
            self.problem(where, f"--http {http!r} is not HOST:PORT")
            return None
        if host in ("127.0.0.1", "localhost", "::1", "[::1]"):
            self.problem(where, f"--http {http} listens on loopback only; probes and clients cannot reach it")
        return int(port)

    # ------------------------------------------------------------ topics
    def check_topic_script(self, where, script, env, expected_topics):
        """Finds the kafka-topics.sh --create calls of a shell script."""
        text = script.replace("\\\n", " ")
        created = {}
        for line in text.splitlines():
            if "kafka-topics" not in line or "--create" not in line:
                continue
            try:
                words = shlex.split(line, comments=True)
            except ValueError as e:
                self.problem(where, f"cannot split {line.strip()!r}: {e}")
                continue
            topic = partitions = None
            for j, w in enumerate(words):
                nxt = words[j + 1] if j + 1 < len(words) else None
                if w == "--topic":
                    topic = nxt
                elif w.startswith("--topic="):
                    topic = w.split("=", 1)[1]
                elif w == "--partitions":
                    partitions = nxt
                elif w.startswith("--partitions="):
                    partitions = w.split("=", 1)[1]
            if "--if-not-exists" not in words:
                self.problem(where, f"creating {topic} without --if-not-exists is not idempotent")
            if topic is None or partitions is None:
                self.problem(where, f"kafka-topics.sh --create needs --topic and --partitions: {line.strip()!r}")
                continue
            resolved = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?",
                              lambda m: env.get(m.group(1), m.group(0)), partitions)
            if topic in created:
                self.problem(where, f"{topic} is created twice")
            if not resolved.isdigit() or int(resolved) < 1:
                shown = partitions if resolved == partitions else f"{partitions} (= {resolved!r})"
                self.problem(where, f"--partitions {shown} of {topic} does not resolve to a positive number")
                created[topic] = None
                continue
            created[topic] = int(resolved)
        for t in sorted(set(expected_topics) - set(created)):
            self.problem(where, f"topic {t} is not created")
        for t in sorted(set(created) - set(expected_topics)):
            self.problem(where, f"creates {t}, which is not one of campaignd's topics {sorted(expected_topics)}")
        counts = {created[t] for t in created if t in expected_topics and created[t] is not None}
        if len(counts) > 1:
            detail = ", ".join(f"{t}={created[t]}" for t in sorted(created))
            self.problem(where, f"events, decisions and dlq topics must have the same partition count (CONTRACT §2): {detail}")
        return created

    @staticmethod
    def expected_topics(flags):
        return {flags.get(f, default) for f, default in DEFAULT_TOPICS.items()}

    def check_topics_job(self, campaignd_flags):
        jobs = [(p, d) for p, d in self.find_k8s("Job")
                if any("kafka-topics" in json.dumps(c) for c in
                       ((d.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or [])]
        if len(jobs) != 1:
            self.problem("deploy/k8s", f"expected one Job running kafka-topics.sh, found {len(jobs)}")
            return
        path, job = jobs[0]
        where = f"{path}: Job/{job['metadata'].get('name')}"
        for c in job["spec"]["template"]["spec"]["containers"]:
            script = "\n".join(str(a) for a in (c.get("command") or []) + (c.get("args") or []))
            if "kafka-topics" in script:
                self.check_topic_script(where, script, self.k8s_env(c), self.expected_topics(campaignd_flags))

    # ------------------------------------------------------------ compose
    def check_compose(self):
        path = os.path.join("deploy", "compose.yaml")
        docs = self.docs.get(path)
        if not docs:
            self.problem(path, "missing or empty")
            return
        compose = docs[0]
        services = compose.get("services") or {}
        declared_volumes = set((compose.get("volumes") or {}).keys())
        compose_dir = os.path.join(self.root, "deploy")
        for name, svc in services.items():
            where = f"{path}: service {name}"
            if not isinstance(svc, dict):
                self.problem(where, "is not a mapping")
                continue
            if not svc.get("image") and not svc.get("build"):
                self.problem(where, "has neither image nor build")
            depends = svc.get("depends_on") or {}
            if isinstance(depends, list):
                depends = {d: {} for d in depends}
            for target, cond in depends.items():
                if target not in services:
                    self.problem(where, f"depends_on {target}, which is not a service")
                    continue
                condition = (cond or {}).get("condition", "service_started")
                if condition not in COMPOSE_CONDITIONS:
                    self.problem(where, f"depends_on {target}: unknown condition {condition}")
                if condition == "service_healthy" and not (services[target] or {}).get("healthcheck"):
                    self.problem(where, f"waits for {target} to be healthy, but {target} has no healthcheck")
            for v in svc.get("volumes") or []:
                source = v.get("source") if isinstance(v, dict) else str(v).split(":")[0]
                if isinstance(v, str) and ":" not in v:
                    continue  # anonymous volume
                if not source:
                    continue
                if source.startswith((".", "/", "~")):
                    if not os.path.exists(os.path.normpath(os.path.join(compose_dir, source))):
                        self.problem(where, f"bind mount source {source} does not exist")
                elif source not in declared_volumes:
                    self.problem(where, f"named volume {source} is not declared under top-level volumes")
            build = svc.get("build")
            if build:
                context = build if isinstance(build, str) else build.get("context", ".")
                context_dir = os.path.normpath(os.path.join(compose_dir, context))
                dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
                if not os.path.isdir(context_dir):
                    self.problem(where, f"build context {context} does not exist")
                elif not os.path.isfile(os.path.join(context_dir, dockerfile)):
                    self.problem(where, f"Dockerfile {dockerfile} does not exist in context {context}")
                elif os.path.normpath(os.path.join(context_dir, dockerfile)) == os.path.join(self.deploy, "Dockerfile") \
                        and context_dir != self.root:
                    self.problem(where, "deploy/Dockerfile needs the repository root as its build context")
        campaignd = services.get("campaignd")
        if not isinstance(campaignd, dict):
            self.problem(path, "no campaignd service")
            return {}
        where = f"{path}: service campaignd"
        command = campaignd.get("command") or []
        argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        entrypoint = campaignd.get("entrypoint")
        if entrypoint:
            ep = shlex.split(entrypoint) if isinstance(entrypoint, str) else [str(a) for a in entrypoint]
            if ep and os.path.basename(ep[0]) == "campaignd":
                argv = ep[1:] + argv
        flags = self.check_campaignd_args(where, argv, lambda s: s.replace("$$", "$"))
        self.http_port(where, flags)
        for port in campaignd.get("ports") or []:
            if isinstance(port, str) and not port.startswith("127.0.0.1:"):
                self.problem(where, f"port {port} is published on every interface; bind it to 127.0.0.1")
        targets = {}
        for v in campaignd.get("volumes") or []:
            if isinstance(v, dict):
                targets[v.get("target")] = v.get("source")
            elif ":" in str(v):
                parts = str(v).split(":")
                targets[parts[1]] = parts[0]
        state_dir = flags.get("--state-dir")
        if state_dir and not any(d in targets for d in parents_of(state_dir)):
            self.problem(where, f"--state-dir {state_dir} is not on a volume (state would be lost with the container)")
        auth = flags.get("--auth-file")
        if auth and auth not in targets and os.path.dirname(auth) not in targets:
            self.problem(where, f"--auth-file {auth} is not mounted")
        deps = campaignd.get("depends_on") or {}
        creators = [n for n, s in services.items() if isinstance(s, dict) and "kafka-topics" in json.dumps(s)
                    and "--create" in json.dumps(s)]
        if len(creators) != 1:
            self.problem(path, f"expected one service creating the topics with kafka-topics.sh, found {len(creators)}")
        else:
            name = creators[0]
            if not isinstance(deps, dict) or (deps.get(name) or {}).get("condition") != "service_completed_successfully":
                self.problem(where, f"must depend on {name} with condition service_completed_successfully")
            svc = services[name]
            env = svc.get("environment") or {}
            if isinstance(env, list):
                env = dict(str(e).split("=", 1) for e in env if "=" in str(e))
            env = {k: str(v) for k, v in env.items()}
            parts = []
            for key in ("entrypoint", "command"):
                value = svc.get(key)
                if value:
                    parts.extend([value] if isinstance(value, str) else [str(a) for a in value])
            script = "\n".join(parts).replace("$$", "$")
            self.check_topic_script(f"{path}: service {name}", script, env, self.expected_topics(flags))
        return flags

    # ------------------------------------------------------------ Dockerfile
    def dockerignore(self):
        path = os.path.join(self.root, ".dockerignore")
        if not os.path.isfile(path):
            return None
        patterns = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    patterns.append(line)
        return patterns

    @staticmethod
    def ignored(path, patterns):
        """Docker's rule, simplified: the last matching pattern wins; a
        pattern matches the path or one of its parent directories."""
        path = os.path.normpath(path).lstrip("/")
        pieces = path.split("/")
        prefixes = ["/".join(pieces[:i]) for i in range(1, len(pieces) + 1)]
        result = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            p = os.path.normpath(pattern.lstrip("!")).lstrip("/")
            if p.startswith("**/"):
                hit = any(fnmatch.fnmatch(q.split("/")[-1], p[3:]) or fnmatch.fnmatch(q, p[3:]) for q in prefixes)
            else:
                hit = any(fnmatch.fnmatch(q, p) for q in prefixes)
            if hit:
                result = not negate
        return result

    def check_dockerfile(self):
        rel = os.path.join("deploy", "Dockerfile")
        path = os.path.join(self.root, rel)
        if not os.path.isfile(path):
            self.problem(rel, "missing")
            return
        instructions = []  # (line number, keyword, rest)
        with open(path, encoding="utf-8") as f:
            pending, start = "", 0
            for number, raw in enumerate(f, 1):
                line = raw.rstrip("\n")
                if not pending and (not line.strip() or line.lstrip().startswith("#")):
                    continue
                if pending and line.lstrip().startswith("#"):
                    continue  # comment inside a continued instruction
                if not pending:
                    start = number
                if line.rstrip().endswith("\\"):
                    pending += line.rstrip()[:-1] + " "
                    continue
                full = (pending + line).strip()
                pending = ""
                keyword, _, rest = full.partition(" ")
                instructions.append((start, keyword.upper(), rest.strip()))
        stages = []  # [name, user]
        for number, keyword, rest in instructions:
            where = f"{rel}:{number}"
            if keyword == "FROM":
                words = rest.split()
                name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
                stages.append([name, None])
            elif keyword == "USER" and stages:
                stages[-1][1] = rest.split(":")[0].strip()
            elif keyword in ("COPY", "ADD"):
                self.check_copy(where, keyword, rest, {s[0] for s in stages if s[0]})
        if len(stages) < 2:
            self.problem(rel, f"needs a build stage and a runtime stage; found {len(stages)} FROM")
        if not stages:
            return
        user = stages[-1][1]
        if user is None:
            self.problem(rel, "the final stage has no USER: it would run as root")
        elif user in ROOT_USERS:
            self.problem(rel, f"the final stage runs as {user}")
        final = [i for i in instructions if i[1] == "FROM"][-1][0]
        entry = [r for n, k, r in instructions if k == "ENTRYPOINT" and n > final]
        if not entry or "campaignd" not in entry[-1]:
            self.problem(rel, "the final stage's ENTRYPOINT must run campaignd")

    def check_copy(self, where, keyword, rest, stage_names):
        if rest.startswith("["):
            try:
                words = json.loads(rest)
            except json.JSONDecodeError:
                self.problem(where, f"{keyword} JSON form does not parse")
                return
            flags = []
        else:
            words = shlex.split(rest)
            flags = [w for w in words if w.startswith("--")]
            words = [w for w in words if not w.startswith("--")]
        from_stage = [f.split("=", 1)[1] for f in flags if f.startswith("--from=")]
        if from_stage:
            if from_stage[0] not in stage_names and not re.match(r"^[\w.-]+[/:]", from_stage[0]):
                self.problem(where, f"{keyword} --from={from_stage[0]} is not an earlier stage")
            return
        if len(words) < 2:
            self.problem(where, f"{keyword} needs a source and a destination")
            return
        patterns = self.dockerignore()
        for source in words[:-1]:
            if keyword == "ADD" and re.match(r"^[a-z]+://", source):
                continue
            matches = [source] if not any(ch in source for ch in "*?[") else \
                [m for m in _glob(self.root, source)]
            if not matches or not all(os.path.exists(os.path.join(self.root, m)) for m in matches):
                self.problem(where, f"{keyword} source {source} does not exist in the repository")
                continue
            if patterns and os.path.normpath(source) != "." and self.ignored(source, patterns):
                self.problem(where, f"{keyword} source {source} is excluded by .dockerignore")
            if os.path.normpath(source) == ".":
                if patterns is None:
                    self.problem(where, f"{keyword} . without a .dockerignore copies host build trees and .git")
                else:
                    for must in ("build", ".git"):
                        if not self.ignored(must, patterns):
                            self.problem(where, f"{keyword} . copies {must}/: add it to .dockerignore")

    # ------------------------------------------------------------ auth files
    def check_auth(self, where, doc):
        tokens = doc.get("tokens") if isinstance(doc, dict) else None
        if not isinstance(tokens, list) or not tokens:
            self.problem(where, "needs a non-empty `tokens` list (CONTRACT §5)")
            return
        seen = set()
        for t in tokens:
            if not isinstance(t, dict) or not isinstance(t.get("token"), str) or not t.get("token"):
                self.problem(where, f"entry {t!r} needs a string token")
                continue
            role = str(t.get("role"))
            if role not in ROLES and not MERCHANT_ROLE.match(role):
                self.problem(where, f"role {role!r} is not admin, finance, ingest or merchant:<id>")
            if t["token"] in seen:
                self.problem(where, "a token is listed twice")
            seen.add(t["token"])

    def check_auth_files(self):
        rel = os.path.join("deploy", "auth.example.yaml")
        if rel in self.docs:
            self.check_auth(rel, self.docs[rel][0] if self.docs[rel] else None)
        else:
            self.problem(rel, "missing")
        for path, secret in self.find_k8s("Secret"):
            data = secret.get("stringData") or {}
            for key, value in data.items():
                if key.endswith((".yaml", ".yml")):
                    try:
                        self.check_auth(f"{path}: {key}", yaml.safe_load(value))
                    except yaml.YAMLError as e:
                        self.problem(f"{path}: {key}", f"does not parse as YAML: {e}")

    def run(self):
        if not os.path.isdir(self.deploy):
            self.problem("deploy/", "missing")
            return self.problems
        self.load_yaml()
        self.check_k8s()
        self.check_compose()
        self.check_topics_job(self.statefulset_flags)
        self.check_dockerfile()
        self.check_auth_files()
        if not os.path.isfile(os.path.join(self.deploy, "README.md")):
            self.problem("deploy/README.md", "missing")
        return self.problems



def parents_of(path):
    """The path and every directory above it: a state dir may live below a mount."""
    out = []
    while path and path not in out:
        out.append(path)
        path = os.path.dirname(path)
    return out

def _glob(root, pattern):
    import glob
    return [os.path.relpath(p, root) for p in glob.glob(os.path.join(root, pattern))]


def main(argv):
    if len(argv) > 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    root = argv[1] if len(argv) == 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    problems = Checker(root).run()
    if problems:
        for p in problems:
            print(f"deploy_check: {p}", file=sys.stderr)
        print(f"deploy_check: FAILED, {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("deploy_check: OK (Dockerfile, compose.yaml, k8s manifests)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
