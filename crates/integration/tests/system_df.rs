//! `GET /system/df`, `ps -s`/`inspect -s`, `docker system df [-v]`, `docker system prune`,
//! `image prune -a`, `volume prune [-a]`, `POST /build/prune`, and `berth system
//! df|prune|info|events`. Names contain `df` or `prune`.

use std::process::Command;

use integration::daemon::unique;
use integration::Daemon;
use serde_json::Value;

const MIB: u64 = 1 << 20;

fn curl(d: &Daemon, method: &str, path: &str) -> Value {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "30", "-X", method, "--unix-socket"])
        .arg(&d.socket)
        .arg(format!("http://localhost/v1.44{path}"))
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// "8.389MB" → bytes (decimal units, as docker prints reclaimed space).
fn parse_human(s: &str) -> f64 {
    let s = s.trim();
    let idx = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let n: f64 = s[..idx].parse().unwrap_or_else(|_| panic!("size {s:?}"));
    let mult = match &s[idx..] {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        u => panic!("unit {u:?} in {s:?}"),
    };
    n * mult
}

fn reclaimed(out: &str) -> f64 {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("Total reclaimed space: "))
        .unwrap_or_else(|| panic!("no total in {out}"));
    parse_human(line)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= b * 0.01 + 1.0
}

/// A stopped container that wrote `mib` MiB into its writable layer.
fn writer(d: &Daemon, mib: u64, extra: &[&str]) -> String {
    let n = unique("dfw");
    let cmd = format!("dd if=/dev/zero of=/big bs=1M count={mib} 2>/dev/null");
    let mut args = vec!["run", "--name", &n];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", &cmd]);
    d.berth(args).ok();
    n
}

#[test]
fn df_sizes_in_api_ps_inspect_and_cli() {
    let d = Daemon::with_busybox();
    let a = writer(&d, 3, &[]);
    let vol = unique("dfv");
    d.berth([
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/data"),
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/data/f",
        "bs=1M",
        "count=1",
    ])
    .ok();
    let img_size: u64 = d
        .berth(["image", "inspect", "-f", "{{.Size}}", "busybox"])
        .ok()
        .parse()
        .unwrap();
    assert_eq!(
        d.berth(["inspect", "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", &a])
            .ok(),
        format!("{} {}", 3 * MIB, 3 * MIB + img_size)
    );
    let ps = d
        .berth(["ps", "-a", "-s", "--filter", &format!("name={a}")])
        .ok();
    assert!(ps.lines().next().unwrap().ends_with("SIZE"), "{ps}");
    assert!(ps.contains("3.15MB (virtual"), "{ps}");
    let v = curl(&d, "GET", "/system/df");
    let c = v["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Names"][0] == format!("/{a}"))
        .expect("container in df");
    assert_eq!(c["SizeRw"], 3 * MIB);
    let images = v["Images"].as_array().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0]["Size"], img_size);
    assert_eq!(images[0]["Containers"], 1);
    assert_eq!(v["LayersSize"], img_size);
    let vv = v["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["Name"] == vol.as_str())
        .expect("volume in df");
    assert_eq!(vv["UsageData"]["Size"], MIB);
    assert_eq!(vv["UsageData"]["RefCount"], 0);
    assert!(v["BuildCache"].is_array());
    let only = curl(&d, "GET", "/system/df?type=volume");
    assert!(
        only.get("Images").is_none() && only["Volumes"].is_array(),
        "{only}"
    );
    // The CLIs' tables.
    let berth = d.berth(["system", "df"]).ok();
    assert!(berth.starts_with("TYPE"), "{berth}");
    assert!(berth.contains("Local Volumes"), "{berth}");
    let verbose = d.berth(["system", "df", "-v"]).ok();
    assert!(verbose.contains(&vol) && verbose.contains(&a), "{verbose}");
    if integration::docker_cli().is_some() {
        let out = d.docker(["system", "df"]).ok();
        let images = out.lines().find(|l| l.starts_with("Images")).unwrap();
        assert!(images.split_whitespace().nth(1) == Some("1"), "{out}");
        let out = d.docker(["system", "df", "-v"]).ok();
        assert!(out.contains(&vol), "{out}");
        let s = d
            .docker([
                "ps",
                "-a",
                "-s",
                "--format",
                "{{.Size}}",
                "--filter",
                &format!("name={a}"),
            ])
            .ok();
        assert!(s.starts_with("3.15MB (virtual"), "{s}");
        let s = d.docker(["inspect", "-s", "-f", "{{.SizeRw}}", &a]).ok();
        assert_eq!(s, (3 * MIB).to_string());
    }
}

#[test]
fn prune_system_reclaims_what_it_reports() {
    if integration::docker_cli().is_none() {
        eprintln!("docker CLI not installed: skipped");
        return;
    }
    let d = Daemon::with_busybox();
    let a = writer(&d, 3, &[]);
    // A dangling image whose own layer is A's 3 MiB.
    d.berth(["commit", &a]).ok();
    // A stopped container with a 2 MiB anonymous volume.
    let b = unique("dfb");
    d.berth([
        "run",
        "--name",
        &b,
        "-v",
        "/anon",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/anon/f",
        "bs=1M",
        "count=2",
    ])
    .ok();
    let named = unique("dfn");
    d.berth(["volume", "create", &named]).ok();
    let before = curl(&d, "GET", "/system/df");
    assert_eq!(before["Images"].as_array().unwrap().len(), 2);
    let out = d.docker(["system", "prune", "-f", "--volumes"]).ok();
    let got = reclaimed(&out);
    assert!(close(got, (3 + 3 + 2) as f64 * MIB as f64), "{got}: {out}");
    assert!(
        out.contains(&a) || out.contains("Deleted Containers"),
        "{out}"
    );
    let after = curl(&d, "GET", "/system/df");
    assert_eq!(after["Containers"].as_array().unwrap().len(), 0);
    let imgs = after["Images"].as_array().unwrap();
    assert_eq!(imgs.len(), 1, "{after}");
    assert_eq!(imgs[0]["RepoTags"][0], "busybox:latest");
    let vols: Vec<&str> = after["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["Name"].as_str())
        .collect();
    assert_eq!(vols, vec![named.as_str()], "named volumes stay (API 1.42+)");
    // `volume prune` keeps named volumes unless -a.
    d.docker(["volume", "prune", "-f"]).ok();
    assert!(d.docker(["volume", "ls", "-q"]).ok().contains(&named));
    d.docker(["volume", "prune", "-a", "-f"]).ok();
    assert!(!d.docker(["volume", "ls", "-q"]).ok().contains(&named));
    // `image prune -a`: the unused busybox goes, all its bytes reclaimed.
    let layers = after["LayersSize"].as_f64().unwrap();
    let out = d.docker(["image", "prune", "-a", "-f"]).ok();
    assert!(close(reclaimed(&out), layers), "{out} vs {layers}");
    assert_eq!(d.docker(["images", "-q"]).ok(), "");
    // Nothing left: a second prune reclaims 0 and still exits 0.
    let out = d.docker(["system", "prune", "-a", "-f"]).ok();
    assert_eq!(reclaimed(&out), 0.0, "{out}");
}

#[test]
fn prune_build_cache_and_berth_system_prune() {
    let d = Daemon::with_busybox();
    let ctx = std::path::PathBuf::from(format!("/tmp/{}", unique("dfctx")));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN dd if=/dev/zero of=/x bs=1K count=200\nRUN echo two > /y\n",
    )
    .unwrap();
    let tag = unique("dfimg");
    let o = d.berth(["build", "-q", "-t", &tag, ctx.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&ctx);
    o.ok();
    let v = curl(&d, "GET", "/system/df?type=build-cache");
    let cache = v["BuildCache"].as_array().unwrap();
    assert_eq!(cache.len(), 2, "{v}");
    // Each step's layer is also the tagged image's: shared, so not reclaimable.
    assert!(cache.iter().all(|c| c["Shared"] == true), "{v}");
    assert!(cache.iter().any(|c| c["Size"] == 200 * 1024), "{v}");
    let p = curl(&d, "POST", "/build/prune");
    assert_eq!(p["CachesDeleted"].as_array().unwrap().len(), 2, "{p}");
    // The layers are still the tagged image's: nothing freed, and the image runs.
    assert_eq!(p["SpaceReclaimed"], 0, "{p}");
    assert_eq!(d.berth(["run", "--rm", &tag, "cat", "/y"]).ok(), "two");
    let v = curl(&d, "GET", "/system/df?type=build-cache");
    assert_eq!(v["BuildCache"].as_array().unwrap().len(), 0, "{v}");
    let bad = curl(&d, "POST", "/build/prune?keep-storage=1000");
    assert!(
        bad["message"].as_str().unwrap().contains("keep-storage"),
        "{bad}"
    );
    // berth system prune -a -f: the stopped container and both images go.
    writer(&d, 1, &[]);
    let out = d.berth(["system", "prune", "-a", "-f"]).ok();
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert!(reclaimed(&out) >= MIB as f64, "{out}");
    assert_eq!(d.berth(["images", "-q"]).ok(), "");
    assert!(d.berth(["system", "info"]).ok().contains("Containers"));
}

#[test]
fn df_berth_events_streams_lifecycle() {
    let d = Daemon::with_busybox();
    let n = unique("dfe");
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .saturating_sub(1);
    d.berth(["run", "--name", &n, "busybox", "true"]).ok();
    let until = since + 30;
    let out = d
        .berth([
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.min(since + 3).to_string(),
            "--filter",
            &format!("container={n}"),
        ])
        .ok();
    let actions: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert!(
        actions.contains(&"create") && actions.contains(&"start") && actions.contains(&"die"),
        "{out}"
    );
    assert!(out.contains(&format!("name={n}")), "{out}");
    let f = d
        .berth([
            "system",
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &(since + 3).to_string(),
            "--filter",
            &format!("container={n}"),
            "--format",
            "{{.Type}} {{.Action}}",
        ])
        .ok();
    assert!(f.lines().any(|l| l == "container start"), "{f}");
}
