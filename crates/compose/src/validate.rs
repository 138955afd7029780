//! Cross-reference checks of a loaded project, so that a bad project fails before anything
//! is created: images, dependencies, networks, volumes, names, and every value the API
//! bodies are made from.

use crate::convert::{container_body, Instance};
use crate::error::{invalid, Result};
use crate::plan::start_order;
use crate::project::Project;

/// Validates a loaded project.
pub fn validate(p: &Project) -> Result<()> {
    let m = &p.model;
    for (name, s) in &m.services {
        let sp = format!("services.{name}");
        if s.image.is_none() && s.build.is_none() {
            return Err(invalid(
                sp,
                "has neither an image nor a build context specified",
            ));
        }
        for (dep, d) in &s.depends_on {
            match d.condition.as_str() {
                "service_started" | "service_healthy" | "service_completed_successfully" => {}
                c => {
                    return Err(invalid(
                        format!("{sp}.depends_on.{dep}.condition"),
                        format!("invalid condition {c:?}"),
                    ))
                }
            }
            if !m.services.contains_key(dep) && d.required.unwrap_or(true) {
                let why = if p.disabled.contains(dep) {
                    " (it is in an inactive profile)"
                } else {
                    ""
                };
                return Err(invalid(
                    format!("{sp}.depends_on"),
                    format!("service {name:?} depends on undefined service {dep:?}{why}"),
                ));
            }
        }
        if let Some(nets) = &s.networks {
            for key in nets.keys() {
                if key != "default" && !m.networks.contains_key(key) {
                    return Err(invalid(
                        format!("{sp}.networks"),
                        format!("service {name:?} refers to undefined network {key}"),
                    ));
                }
            }
        }
        if s.container_name.is_some() && s.replicas() > 1 {
            return Err(invalid(
                sp.clone(),
                format!(
                    "services.{name}: can't set container_name and scale it to {} replicas",
                    s.replicas()
                ),
            ));
        }
        if let Some(b) = &s.build {
            if !std::path::Path::new(&b.context).is_dir() {
                return Err(invalid(
                    format!("{sp}.build.context"),
                    format!("build context {:?} is not a directory", b.context),
                ));
            }
        }
        container_body(
            p,
            name,
            &Instance {
                number: 1,
                oneoff: false,
                image_id: String::new(),
                config_hash: String::new(),
                publish: true,
                name: String::new(),
            },
        )?;
    }
    for (key, n) in &m.networks {
        if let Some(n) = n {
            if n.external && (n.ipam.is_some() || n.driver.is_some() || n.internal) {
                return Err(invalid(
                    format!("networks.{key}"),
                    "an external network cannot set driver, ipam or internal",
                ));
            }
            if let Some(ipam) = &n.ipam {
                for (i, c) in ipam.config.iter().enumerate() {
                    if let Some(s) = &c.subnet {
                        let ok = s.split_once('/').is_some_and(|(a, l)| {
                            a.parse::<std::net::Ipv4Addr>().is_ok()
                                && l.parse::<u8>().is_ok_and(|l| l <= 32)
                        });
                        if !ok {
                            return Err(invalid(
                                format!("networks.{key}.ipam.config[{i}].subnet"),
                                format!("invalid subnet {s:?}"),
                            ));
                        }
                    }
                }
            }
        }
    }
    for (key, v) in &m.volumes {
        if let Some(v) = v {
            if let Some(d) = &v.driver {
                if d != "local" {
                    return Err(invalid(
                        format!("volumes.{key}.driver"),
                        format!(
                            "volume driver {d:?} is not implemented by berth compose (only local)"
                        ),
                    ));
                }
            }
        }
    }
    start_order(&m.services, &[], true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::project::{load, Options};
    use indexmap::IndexMap;

    fn check(yaml: &str) -> String {
        let d = std::env::temp_dir().join(format!(
            "compose-validate-{}-{}",
            std::process::id(),
            yaml.len()
        ));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("compose.yaml"), yaml).unwrap();
        let r = load(
            &Options {
                project_name: Some("v".into()),
                ..Default::default()
            },
            &IndexMap::new(),
            &d,
        );
        std::fs::remove_dir_all(&d).unwrap();
        match r {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_projects_are_refused_with_a_path() {
        assert_eq!(check("services:\n  a:\n    image: x\n"), "");
        let cases = [
            ("services:\n  a:\n    command: x\n", "neither an image"),
            ("services:\n  a:\n    image: x\n    depends_on: [nope]\n", "undefined service \"nope\""),
            ("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n", "dependency cycle"),
            ("services:\n  a:\n    image: x\n    networks: [front]\n", "undefined network front"),
            ("services:\n  a:\n    image: x\n    volumes: [data:/d]\n", "undefined volume data"),
            ("services:\n  a:\n    image: x\n    ports: ['80:x']\n", "services.a.ports[0]"),
            ("services:\n  a:\n    image: x\n    restart: sometimes\n", "services.a.restart"),
            ("services:\n  a:\n    image: x\n    scale: 2\n    container_name: fixed\n", "container_name"),
            ("services:\n  a:\n    image: x\n    healthcheck:\n      test: [CMD, true]\n      interval: 5q\n", "services.a.healthcheck.interval"),
            ("services:\n  a:\n    image: x\n    security_opt: [no-new-privileges]\n", "not implemented"),
            ("services:\n  a:\n    image: x\n    depends_on:\n      b: {condition: service_maybe}\n  b:\n    image: x\n", "invalid condition"),
            ("services:\n  a:\n    image: x\nvolumes:\n  v:\n    driver: nfs\n", "volumes.v.driver"),
            ("services:\n  a:\n    image: x\nnetworks:\n  n:\n    ipam:\n      config: [{subnet: bogus}]\n", "invalid subnet"),
        ];
        for (yaml, want) in cases {
            let e = check(yaml);
            assert!(e.contains(want), "{yaml:?}: got {e:?}, want {want:?}");
        }
    }
}
