//! `berth compose` end to end against a private berthd, and the same project body driven by
//! Debian's `docker-compose` 1.29 (the Python v1 client) against berthd, so a difference
//! between the two clients (or a gap in berthd's API for either) is a failing test.
//!
//! Known v1/v2 differences the shared body allows for: v1 names containers
//! `<project>_<service>_<n>` (v2 and berth: `<project>-<service>-<n>`); v1 computes its own
//! config hash (so the two clients do not share "unchanged" decisions on one project).

mod regutil;

use integration::netcfg::{free_port, leftovers, pick_subnet};
use integration::{Daemon, Out};
use regutil::AnchorDockerd;
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Which compose client drives the project.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Client {
    /// `berth compose`.
    Berth,
    /// Debian's docker-compose 1.29 (Python).
    DockerComposeV1,
}

/// The daemon a project runs on, seen through its API socket.
struct Target {
    /// `unix://…` of the daemon.
    host: String,
    /// A private dir for project files and client config.
    root: PathBuf,
}

impl Target {
    fn of(d: &Daemon) -> Target {
        Target {
            host: d.host(),
            root: d.root.clone(),
        }
    }

    /// The berth CLI against this daemon (berth is a Docker API client: it reads dockerd too).
    fn berth<I, S>(&self, args: I) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let o = Command::new(integration::daemon::bin("berth"))
            .arg("-H")
            .arg(&self.host)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth");
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A project directory plus the client and daemon to drive it with.
struct Proj<'a> {
    d: &'a Target,
    client: Client,
    dir: PathBuf,
    name: String,
}

impl<'a> Proj<'a> {
    fn new(d: &'a Target, client: Client, yaml: &str) -> Proj<'a> {
        let name = integration::unique("cp");
        let dir = d.root.join(format!("proj-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("compose.yaml"), yaml).unwrap();
        Proj {
            d,
            client,
            dir,
            name,
        }
    }

    /// Runs a compose command with extra environment variables.
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut c = match self.client {
            Client::Berth => {
                let mut c = Command::new(integration::daemon::bin("berth"));
                c.arg("-H").arg(&self.d.host).arg("compose");
                c
            }
            Client::DockerComposeV1 => {
                let mut c = Command::new("docker-compose");
                c.env("DOCKER_HOST", &self.d.host)
                    .env("DOCKER_CONFIG", self.d.root.join("docker-config"))
                    .env("COMPOSE_INTERACTIVE_NO_CLI", "1");
                c
            }
        };
        c.arg("-p")
            .arg(&self.name)
            .arg("-f")
            .arg(self.dir.join("compose.yaml"));
        c.args(args).current_dir(&self.dir).stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().expect("run compose client");
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_env(args, &[])
    }

    /// The container name of replica `n` of `service` as this client names it.
    fn cname(&self, service: &str, n: u32) -> String {
        match self.client {
            Client::Berth => format!("{}-{service}-{n}", self.name),
            Client::DockerComposeV1 => format!("{}_{service}_{n}", self.name),
        }
    }

    /// (name, id) of the project's containers (all states), sorted by name.
    fn containers(&self) -> Vec<(String, String)> {
        let out = self
            .d
            .berth([
                "ps",
                "-a",
                "--no-trunc",
                "--filter",
                &format!("label=com.docker.compose.project={}", self.name),
                "--format",
                "{{.Names}} {{.ID}}",
            ])
            .ok();
        let mut v: Vec<(String, String)> = out
            .lines()
            .filter_map(|l| {
                l.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            })
            .collect();
        v.sort();
        v
    }

    fn id(&self, service: &str, n: u32) -> String {
        let name = self.cname(service, n);
        self.containers()
            .into_iter()
            .find(|(c, _)| *c == name)
            .unwrap_or_else(|| panic!("no container {name}: {:?}", self.containers()))
            .1
    }

    fn started_at(&self, id: &str) -> String {
        self.d
            .berth(["inspect", "-f", "{{.State.StartedAt}}", id])
            .ok()
    }

    fn exists(&self, kind: &str, name: &str) -> bool {
        self.d.berth([kind, "inspect", name]).code == 0
    }
}

/// GET / on 127.0.0.1:port until it answers (or 20 s).
fn http_get(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            use std::io::Write;
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let _ = s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if let Some((_, body)) = buf.split_once("\r\n\r\n") {
                if buf.starts_with("HTTP/1.") {
                    return body.trim().to_string();
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "nothing answered on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The shared project: web (published port, waits for db healthy), db (named volume,
/// healthcheck, serves its data to the project network), worker (scaled, changed).
fn app_yaml(port: u16, subnet: &str) -> String {
    format!(
        r#"services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1:{port}:80"]
    stop_signal: SIGKILL
    depends_on:
      db:
        condition: service_healthy
  db:
    image: busybox
    command: ["sh", "-c", "echo db-ready; [ -f /data/msg ] || echo $$MSG > /data/msg; exec httpd -f -p 8080 -h /data"]
    environment:
      MSG: "${{MSG:-stored}}"
    volumes: ["data:/data"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD-SHELL", "test -f /data/msg"]
      interval: 1s
      timeout: 2s
      retries: 30
  worker:
    image: busybox
    command: ["sleep", "3600"]
    environment:
      TAG: "${{TAG:-one}}"
    stop_signal: SIGKILL
volumes:
  data: {{}}
networks:
  default:
    ipam:
      config:
        - subnet: {subnet}
"#
    )
}

/// The one body every (client, daemon) pair must pass.
fn lifecycle(t: &Target, client: Client) {
    let d = t;
    let port = free_port();
    let p = Proj::new(t, client, &app_yaml(port, &pick_subnet()));
    let net = format!("{}_default", p.name);
    let vol = format!("{}_data", p.name);

    let up = p.run(&["up", "-d"]);
    assert_eq!(up.code, 0, "up: {up:?}");
    assert!(p.exists("network", &net) && p.exists("volume", &vol));
    assert_eq!(http_get(port), "hello-from-web");
    let health = d
        .berth(["inspect", "-f", "{{.State.Health.Status}}", &p.id("db", 1)])
        .ok();
    assert_eq!(health, "healthy", "web started only after db was healthy");
    // service discovery by service name on the project network
    let got = p.run(&[
        "exec",
        "-T",
        "web",
        "wget",
        "-q",
        "-O",
        "-",
        "http://db:8080/msg",
    ]);
    assert_eq!(got.ok(), "stored", "{got:?}");

    // up twice is a no-op: same containers, not restarted
    let before: Vec<(String, String, String)> = p
        .containers()
        .into_iter()
        .map(|(n, id)| (n, id.clone(), p.started_at(&id)))
        .collect();
    assert_eq!(before.len(), 3, "{before:?}");
    p.run(&["up", "-d"]).ok();
    let after: Vec<(String, String, String)> = p
        .containers()
        .into_iter()
        .map(|(n, id)| (n, id.clone(), p.started_at(&id)))
        .collect();
    assert_eq!(before, after, "a second up changed something");

    // a changed config recreates only that service
    let (web, db, worker) = (p.id("web", 1), p.id("db", 1), p.id("worker", 1));
    p.run_env(&["up", "-d"], &[("TAG", "two")]).ok();
    assert_eq!(p.id("web", 1), web);
    assert_eq!(p.id("db", 1), db);
    assert_ne!(p.id("worker", 1), worker, "worker was not recreated");
    let env = d
        .berth(["inspect", "-f", "{{json .Config.Env}}", &p.id("worker", 1)])
        .ok();
    assert!(env.contains("TAG=two"), "{env}");

    // --no-recreate keeps a changed service; --force-recreate replaces an unchanged one
    let worker = p.id("worker", 1);
    p.run_env(&["up", "-d", "--no-recreate"], &[("TAG", "three")])
        .ok();
    assert_eq!(p.id("worker", 1), worker, "--no-recreate recreated");
    p.run_env(&["up", "-d", "--force-recreate", "web"], &[("TAG", "two")])
        .ok();
    assert_ne!(p.id("web", 1), web, "--force-recreate kept web");
    if client == Client::Berth {
        // v2: dependencies of the named service are not forced (v1 forces them too)
        assert_eq!(p.id("db", 1), db, "--force-recreate web recreated db");
    }
    assert_eq!(http_get(port), "hello-from-web");
    let web = p.id("web", 1);

    // scale up and down by container number
    p.run_env(&["up", "-d", "--scale", "worker=3"], &[("TAG", "two")])
        .ok();
    let names: Vec<String> = p.containers().into_iter().map(|c| c.0).collect();
    for n in 1..=3 {
        assert!(names.contains(&p.cname("worker", n)), "{names:?}");
    }
    assert_eq!(p.id("web", 1), web, "scaling worker touched web");
    p.run_env(&["up", "-d", "--scale", "worker=1"], &[("TAG", "two")])
        .ok();
    let names: Vec<String> = p.containers().into_iter().map(|c| c.0).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&p.cname("worker", 1)));

    // ps lists the running containers
    let ps = p.run(&["ps", "-q"]).ok();
    assert_eq!(ps.lines().count(), 3, "{ps}");

    // down keeps the named volume; data persists into the next up
    p.run(&["down"]).ok();
    assert!(p.containers().is_empty(), "{:?}", p.containers());
    assert!(!p.exists("network", &net), "network left after down");
    assert!(p.exists("volume", &vol), "down removed the named volume");
    p.run_env(&["up", "-d"], &[("MSG", "overwritten")]).ok();
    let got = p.run(&[
        "exec",
        "-T",
        "web",
        "wget",
        "-q",
        "-O",
        "-",
        "http://db:8080/msg",
    ]);
    assert_eq!(got.ok(), "stored", "data did not survive down/up");

    // down -v removes everything
    p.run(&["down", "-v"]).ok();
    assert!(p.containers().is_empty());
    assert!(!p.exists("network", &net));
    assert!(!p.exists("volume", &vol), "down -v left the volume");
}

fn finish(mut d: Daemon) {
    let ids = d.container_ids();
    assert!(ids.is_empty(), "containers left: {ids:?}");
    d.stop();
    let left = leftovers(&d.net_tag, &d.exec_root());
    assert!(left.is_empty(), "left behind: {left:?}\n{}", d.log());
}

fn docker_compose_v1() -> bool {
    Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn lifecycle_berth_compose_on_berthd() {
    let d = Daemon::with_busybox();
    lifecycle(&Target::of(&d), Client::Berth);
    finish(d);
}

#[test]
fn lifecycle_docker_compose_v1_on_berthd() {
    assert!(
        docker_compose_v1(),
        "docker-compose (Debian package docker-compose, in BERTH_TEST_APT_PACKAGES) is not installed"
    );
    let d = Daemon::with_busybox();
    lifecycle(&Target::of(&d), Client::DockerComposeV1);
    finish(d);
}

/// The same body, berth compose against a private real dockerd (the anchor): berth compose
/// is a Docker API client, so it must drive dockerd the same way.
#[test]
fn lifecycle_berth_compose_on_dockerd() {
    let Some(dk) = AnchorDockerd::start() else {
        return;
    };
    dk.docker(
        &["import", "--change", "CMD [\"sh\"]", "-", "busybox:latest"],
        Some(&integration::busybox_tar()),
    )
    .ok();
    let root = PathBuf::from(format!("/tmp/{}", integration::unique("cpd")));
    std::fs::create_dir_all(&root).unwrap();
    let t = Target {
        host: dk.host.clone(),
        root: root.clone(),
    };
    lifecycle(&t, Client::Berth);
    let _ = std::fs::remove_dir_all(&root);
}

/// docker compose's names and labels: each client sees, lists and tears down the project the
/// other one made.
#[test]
fn clients_see_each_others_projects() {
    assert!(docker_compose_v1(), "docker-compose is not installed");
    let daemon = Daemon::with_busybox();
    let t = Target::of(&daemon);
    let yaml = app_yaml(free_port(), &pick_subnet());
    for (maker, other) in [
        (Client::Berth, Client::DockerComposeV1),
        (Client::DockerComposeV1, Client::Berth),
    ] {
        let p = Proj::new(&t, maker, &yaml);
        let q = Proj {
            d: &t,
            client: other,
            dir: p.dir.clone(),
            name: p.name.clone(),
        };
        p.run(&["up", "-d"]).ok();
        let mut made: Vec<String> = p.containers().into_iter().map(|c| c.1).collect();
        made.sort();
        let listed = q.run(&["ps", "-q"]).ok();
        let mut listed: Vec<String> = listed.lines().map(str::to_string).collect();
        listed.sort();
        assert_eq!(listed.len(), 3, "{other:?} ps: {listed:?}");
        for id in &listed {
            assert!(
                made.iter().any(|m| m.starts_with(id.as_str())),
                "{id} not in {made:?}"
            );
        }
        q.run(&["down", "-v"]).ok();
        assert!(
            p.containers().is_empty(),
            "{other:?} down left {:?}",
            p.containers()
        );
        assert!(!p.exists("network", &format!("{}_default", p.name)));
        assert!(!p.exists("volume", &format!("{}_data", p.name)));
    }
    finish(daemon);
}

/// `restart: always` brings back a service whose process is killed from the host; read-only
/// binds and long-syntax tmpfs mounts.
#[test]
fn restart_policy_and_mounts() {
    let daemon = Daemon::with_busybox();
    let t = Target::of(&daemon);
    let host_dir = daemon.root.join("shared");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("f"), "from-host\n").unwrap();
    let yaml = format!(
        "services:\n  s:\n    image: busybox\n    command: [sleep, '3600']\n    stop_signal: SIGKILL\n    restart: always\n    volumes:\n      - {}:/shared:ro\n      - type: tmpfs\n        target: /fast\n        tmpfs: {{size: 1m}}\n",
        host_dir.display()
    );
    let p = Proj::new(&t, Client::Berth, &yaml);
    p.run(&["up", "-d"]).ok();
    let got = p.run(&["exec", "-T", "s", "sh", "-c", "cat /shared/f; touch /shared/x 2>/dev/null || echo ro; grep ' /fast ' /proc/mounts | cut -d' ' -f3"]).ok();
    assert_eq!(got, "from-host\nro\ntmpfs");
    let id = p.id("s", 1);
    let pid: i32 = t
        .berth(["inspect", "-f", "{{.State.Pid}}", &id])
        .ok()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = t
            .berth([
                "inspect",
                "-f",
                "{{.State.Running}} {{.RestartCount}} {{.State.Pid}}",
                &id,
            ])
            .ok();
        let parts: Vec<&str> = st.split(' ').collect();
        if parts[0] == "true" && parts[1] != "0" && parts[2] != pid.to_string() {
            break;
        }
        assert!(Instant::now() < deadline, "not restarted: {st}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(p.id("s", 1), id, "restart made a new container");
    p.run(&["down"]).ok();
    finish(daemon);
}

/// `pull` from a local registry (`berth registry serve`), and attached `up`: prefixed output
/// until every container has exited, then the exit codes.
#[test]
fn pull_and_attached_up() {
    let daemon = Daemon::with_busybox();
    let t = Target::of(&daemon);
    let reg = regutil::berth_registry(&[]);
    let image = format!("{}/compose/bb:1", reg.addr);
    t.berth(["tag", "busybox", &image]).ok();
    t.berth(["push", &image]).ok();
    t.berth(["rmi", &image]).ok();
    let yaml = format!(
        "services:\n  hello:\n    image: {image}\n    command: [echo, hello-attached]\n  bye:\n    image: {image}\n    command: [sh, -c, 'echo bye; exit 3']\n"
    );
    let p = Proj::new(&t, Client::Berth, &yaml);
    let pulled = p.run(&["pull"]);
    assert!(pulled.stderr.contains("Pulled"), "{pulled:?}");
    assert!(p.exists("image", &image), "pull did not bring {image}");
    let up = p.run(&["up"]).ok();
    assert!(
        up.contains(&format!("{}  | hello-attached", p.cname("hello", 1))),
        "{up}"
    );
    assert!(
        up.contains(&format!("{} exited with code 3", p.cname("bye", 1))),
        "{up}"
    );
    p.run(&["down", "--rmi", "all"]).ok();
    assert!(!p.exists("image", &image), "--rmi all kept {image}");
    finish(daemon);
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Bad input: each is one error naming the problem, and nothing is created.
#[test]
fn bad_projects_create_nothing() {
    let daemon = Daemon::with_busybox();
    let d = &Target::of(&daemon);
    let cases = [
        ("services:\n  a:\n    image: busybox\n    security_opt: [x]\n", "services.a.security_opt"),
        ("services:\n  a:\n    image: busybox\n    imagee: x\n", "imagee"),
        ("services:\n  a:\n    image: busybox\n    depends_on: [b]\n", "undefined service \"b\""),
        ("services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n", "cycle"),
        ("services:\n  a:\n    image: \"${NEEDED:?set NEEDED}\"\n", "set NEEDED"),
        ("services:\n  a:\n    image: busybox\n    ports: [\"80:abc\"]\n", "services.a.ports[0]"),
        ("services:\n  a:\n    image: busybox\n    volumes: [\"v:rel\"]\n", "services.a.volumes[0]"),
        ("services:\n  a:\n    image: busybox\n   bad: indent\n", "invalid YAML"),
    ];
    for (yaml, want) in cases {
        let p = Proj::new(d, Client::Berth, yaml);
        let e = p.run(&["up", "-d"]).err();
        assert!(e.contains(want), "{yaml:?}: want {want:?} in {e:?}");
        assert!(
            !p.exists("network", &format!("{}_default", p.name)),
            "{yaml:?} created a network"
        );
    }
    // an external network that does not exist: refused before any container is made
    let p = Proj::new(
        d,
        Client::Berth,
        "services:\n  a:\n    image: busybox\n    networks: [ext]\nnetworks:\n  ext:\n    external: true\n    name: nosuchnet-xyz\n",
    );
    let e = p.run(&["up", "-d"]).err();
    assert!(e.contains("nosuchnet-xyz") && e.contains("external"), "{e}");
    assert!(p.containers().is_empty());
    // an image that cannot be pulled: says which service, and down cleans up
    let p = Proj::new(d, Client::Berth, "services:\n  a:\n    image: busybox\n    command: [sleep, '60']\n    stop_signal: SIGKILL\n  b:\n    image: 127.0.0.1:1/none/such:img\n    depends_on: [a]\n");
    let e = p.run(&["up", "-d"]).err();
    assert!(e.contains("\"b\""), "{e}");
    p.run(&["down"]).ok();
    assert!(p.containers().is_empty());
    assert!(!p.exists("network", &format!("{}_default", p.name)));
    finish(daemon);
}

/// The other verbs: config, logs, run --rm, exec, port, top, images, stop/start/restart,
/// kill, rm, build, depends_on service_completed_successfully, named networks with aliases
/// and a fixed address, profiles, remove-orphans.
#[test]
fn verbs_build_and_networks() {
    let daemon = Daemon::with_busybox();
    let d = &Target::of(&daemon);
    let port = free_port();
    let subnet = pick_subnet();
    let base: String = subnet.rsplit_once('.').unwrap().0.to_string();
    let yaml = format!(
        r#"x-kill: &kill
  stop_signal: SIGKILL
services:
  init:
    image: busybox
    command: "sh -c 'echo init-done'"
  app:
    <<: *kill
    build:
      context: ./app
      args:
        GREETING: built-ok
    command: ["sh", "-c", "echo app-started; exec httpd -f -p 80 -h /srv"]
    ports:
      - target: 80
        published: "{port}"
        host_ip: 127.0.0.1
    networks:
      back:
        aliases: [api]
        ipv4_address: {base}.50
    depends_on:
      init:
        condition: service_completed_successfully
    labels:
      tier: backend
  probe:
    <<: *kill
    image: busybox
    command: sleep 3600
    networks: [back]
    tmpfs: [/scratch]
    working_dir: /scratch
    hostname: probehost
    extra_hosts: ["static.example:10.9.8.7"]
  debug:
    image: busybox
    profiles: [debug]
networks:
  back:
    ipam:
      config: [{{subnet: "{subnet}"}}]
"#
    );
    let p = Proj::new(d, Client::Berth, &yaml);
    std::fs::create_dir_all(p.dir.join("app")).unwrap();
    write(
        &p.dir.join("app"),
        "Dockerfile",
        "FROM busybox\nARG GREETING\nRUN mkdir -p /srv && echo $GREETING > /srv/index.html\n",
    );

    // config: resolved model, service list (profiles honoured)
    let cfg = p.run(&["config"]).ok();
    assert!(
        cfg.contains("GREETING: built-ok") && cfg.contains(&format!("{base}.50")),
        "{cfg}"
    );
    assert_eq!(p.run(&["config", "--services"]).ok(), "init\napp\nprobe");

    let up = p.run(&["up", "-d"]);
    assert_eq!(up.code, 0, "{up:?}");
    assert!(up.stderr.contains("Built"), "{up:?}");
    assert_eq!(http_get(port), "built-ok");
    let back = format!("{}_back", p.name);
    // alias, service name, fixed address on the named network
    let got = p
        .run(&[
            "exec",
            "-T",
            "probe",
            "wget",
            "-q",
            "-O",
            "-",
            "http://api/",
        ])
        .ok();
    assert_eq!(got, "built-ok");
    let ip = d
        .berth([
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{back}\").IPAddress}}}}"),
            &p.id("app", 1),
        ])
        .ok();
    assert_eq!(ip, format!("{base}.50"));
    let got = p
        .run(&[
            "exec",
            "-T",
            "probe",
            "sh",
            "-c",
            "pwd; hostname; grep static.example /etc/hosts",
        ])
        .ok();
    assert!(got.starts_with("/scratch\nprobehost\n10.9.8.7"), "{got}");
    assert_eq!(
        d.berth([
            "inspect",
            "-f",
            "{{index .Config.Labels \"tier\"}}",
            &p.id("app", 1)
        ])
        .ok(),
        "backend"
    );

    // logs with prefixes, init ran to completion first
    let logs = p.run(&["logs", "init", "app"]).ok();
    assert!(
        logs.contains(&format!("{}  | init-done", p.cname("init", 1))),
        "{logs}"
    );
    assert!(logs.contains("app-started"), "{logs}");
    // logs -f ends when the container has exited; --wait returns once all are running
    let logs = p.run(&["logs", "-f", "--no-log-prefix", "init"]).ok();
    assert_eq!(logs, "init-done");
    let up = p.run(&["up", "-d", "--wait", "app", "probe"]);
    assert!(
        up.stderr
            .contains(&format!("{}  Running", p.cname("app", 1))),
        "{up:?}"
    );
    // port, top, images, ps --services
    assert_eq!(
        p.run(&["port", "app", "80"]).ok(),
        format!("127.0.0.1:{port}")
    );
    let top = p.run(&["top", "probe"]).ok();
    assert!(top.contains("sleep 3600"), "{top}");
    let images = p.run(&["images", "app"]).ok();
    assert!(images.contains(&format!("{}-app", p.name)), "{images}");
    assert_eq!(p.run(&["ps", "--services"]).ok(), "app\nprobe");

    // run --rm: a one-off on the project network, gone afterwards
    let r = p.run(&[
        "run",
        "--rm",
        "-T",
        "probe",
        "wget",
        "-q",
        "-O",
        "-",
        "http://app/",
    ]);
    assert_eq!(r.ok(), "built-ok", "{r:?}");
    assert!(
        !p.containers().iter().any(|(n, _)| n.contains("-run-")),
        "{:?}",
        p.containers()
    );

    // stop / start / restart / kill / rm
    p.run(&["stop", "probe"]).ok();
    let state = |svc: &str| {
        d.berth(["inspect", "-f", "{{.State.Status}}", &p.id(svc, 1)])
            .ok()
    };
    assert_eq!(state("probe"), "exited");
    assert_eq!(state("app"), "running");
    p.run(&["start", "probe"]).ok();
    assert_eq!(state("probe"), "running");
    let before = p.started_at(&p.id("probe", 1));
    p.run(&["restart", "probe"]).ok();
    assert_ne!(p.started_at(&p.id("probe", 1)), before);
    p.run(&["kill", "probe"]).ok();
    assert_eq!(state("probe"), "exited");
    p.run(&["rm", "-f", "probe"]).ok();
    assert!(!p
        .containers()
        .iter()
        .any(|(n, _)| *n == p.cname("probe", 1)));

    // a service removed from the file is an orphan, removed on request
    p.run(&["up", "-d", "probe"]).ok();
    let no_probe: String = {
        let start = yaml.find("  probe:\n").unwrap();
        let end = yaml.find("  debug:\n").unwrap();
        format!("{}{}", &yaml[..start], &yaml[end..])
    };
    write(&p.dir, "compose.yaml", &no_probe);
    let up = p.run(&["up", "-d"]);
    assert!(up.stderr.contains("orphan"), "{up:?}");
    p.run(&["up", "-d", "--remove-orphans"]).ok();
    assert!(!p
        .containers()
        .iter()
        .any(|(n, _)| *n == p.cname("probe", 1)));

    p.run(&["down", "--rmi", "local"]).ok();
    assert!(p.containers().is_empty());
    assert!(!p.exists("network", &back));
    assert!(
        !p.exists("image", &format!("{}-app", p.name)),
        "--rmi local left the built image"
    );
    finish(daemon);
}
