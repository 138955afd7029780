//! `/_ping`, `/version`, `/info`.

use crate::util::{full, json, Resp};
use engine::Engine;
use hyper::{Method, Response};
use serde_json::json;
use std::sync::Arc;

fn uname() -> (String, String, String) {
    // SAFETY: uname fills a zeroed struct we own.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return ("unknown".into(), "unknown".into(), "localhost".into());
    }
    let s = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (s(&u.release), s(&u.machine), s(&u.nodename))
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `GET|HEAD /_ping`.
pub fn ping(m: &Method) -> Resp {
    let body = if *m == Method::HEAD {
        full("")
    } else {
        full("OK")
    };
    Response::builder()
        .status(200)
        .header("Api-Version", crate::API_VERSION)
        .header("Builder-Version", "1")
        .header("Docker-Experimental", "false")
        .header("OSType", "linux")
        .header("Cache-Control", "no-cache, no-store, must-revalidate")
        .header("Pragma", "no-cache")
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(body)
        .unwrap_or_else(|_| Response::new(full("OK")))
}

/// `GET /version`.
pub fn version() -> Resp {
    let (kernel, _, _) = uname();
    json(
        200,
        &json!({
            "Platform": {"Name": "berth"},
            "Components": [{
                "Name": "Engine",
                "Version": crate::SERVER_VERSION,
                "Details": {
                    "ApiVersion": crate::API_VERSION,
                    "MinAPIVersion": crate::MIN_API_VERSION,
                    "GitCommit": "n/a",
                    "GoVersion": "n/a",
                    "Os": "linux",
                    "Arch": go_arch(),
                    "KernelVersion": kernel,
                    "Experimental": "false",
                    "BuildTime": "n/a"
                }
            }],
            "Version": crate::SERVER_VERSION,
            "ApiVersion": crate::API_VERSION,
            "MinAPIVersion": crate::MIN_API_VERSION,
            "GitCommit": "n/a",
            "GoVersion": "n/a",
            "Os": "linux",
            "Arch": go_arch(),
            "KernelVersion": kernel,
            "BuildTime": "n/a"
        }),
    )
}

/// `GET /info`.
pub fn info(engine: &Arc<Engine>) -> Resp {
    let (kernel, arch, host) = uname();
    let cs = engine.list();
    let running = cs.iter().filter(|c| c.state.running).count();
    let images = engine.images.store.list().map(|l| l.len()).unwrap_or(0);
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    // SAFETY: sysconf has no memory-safety preconditions.
    let mem = unsafe {
        libc::sysconf(libc::_SC_PHYS_PAGES) as i64 * libc::sysconf(libc::_SC_PAGESIZE) as i64
    };
    let cfg = engine.config();
    json(
        200,
        &json!({
            "ID": "berth",
            "Containers": cs.len(),
            "ContainersRunning": running,
            "ContainersPaused": 0,
            "ContainersStopped": cs.len() - running,
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Authorization": null, "Log": ["json-file"]},
            "MemoryLimit": true,
            "SwapLimit": std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists(),
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "CPUShares": true,
            "CPUSet": true,
            "PidsLimit": true,
            "IPv4Forwarding": true,
            "Debug": false,
            "NFd": 0,
            "OomKillDisable": true,
            "NGoroutines": 0,
            "SystemTime": engine::engine::now(),
            "LoggingDriver": engine.config().log.driver,
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": "1",
            "NEventsListener": 0,
            "KernelVersion": kernel,
            "OperatingSystem": "berth",
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": arch,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": [], "Mirrors": []},
            "NCPU": ncpu,
            "MemTotal": mem,
            "DockerRootDir": cfg.data_root.to_string_lossy(),
            "Name": host,
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": crate::SERVER_VERSION,
            "Runtimes": {"runc": {"path": cfg.runtime.to_string_lossy()}},
            "DefaultRuntime": "runc",
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": cfg.init_path.to_string_lossy(),
            "SecurityOptions": cfg.security.info_options(),
            "Warnings": []
        }),
    )
}
