//! Stages of a multi-stage Dockerfile: the ARGs before the first FROM, one stage per FROM
//! (`AS name`), and the dependency DAG (`FROM <stage>`, `COPY --from=<stage>`) used to skip
//! stages the target does not need and to build independent stages concurrently.

use crate::error::{BuildError, Result};
use crate::parser::{Dockerfile, Instruction};
use crate::shell;
use std::collections::BTreeMap;

/// One stage.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Position (0-based): stages can be named by index.
    pub index: usize,
    /// `AS name` (lower-cased), if any.
    pub name: Option<String>,
    /// The base as written after expanding the meta ARGs.
    pub base: String,
    /// The FROM instruction.
    pub from: Instruction,
    /// The instructions after FROM.
    pub instructions: Vec<Instruction>,
    /// Indexes of the stages this one needs first.
    pub deps: Vec<usize>,
}

/// The stage list plus the ARGs declared before the first FROM.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `ARG`s before the first FROM: name → value in effect (build args applied).
    pub meta_args: BTreeMap<String, Option<String>>,
    /// Every stage, in file order.
    pub stages: Vec<Stage>,
}

impl Plan {
    /// Finds a stage by name or index text.
    pub fn lookup(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        if let Some(s) = self.stages[..before]
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(s.index);
        }
        name.parse::<usize>().ok().filter(|&i| i < before)
    }

    /// The index of the target stage (`--target`, default the last one).
    pub fn target(&self, target: Option<&str>) -> Result<usize> {
        match target.filter(|t| !t.is_empty()) {
            None => Ok(self.stages.len() - 1),
            Some(t) => self.lookup(t, self.stages.len()).ok_or_else(|| {
                BuildError::Invalid(format!("failed to reach build target {t} in Dockerfile"))
            }),
        }
    }

    /// Stages needed by `target` (itself included), ascending.
    pub fn needed(&self, target: usize) -> Vec<usize> {
        let mut need = vec![false; self.stages.len()];
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if !need[i] {
                need[i] = true;
                todo.extend(self.stages[i].deps.iter().copied());
            }
        }
        (0..self.stages.len()).filter(|&i| need[i]).collect()
    }
}

/// Splits a Dockerfile into its plan. `build_args` override ARG defaults.
pub fn plan(df: &Dockerfile, build_args: &BTreeMap<String, String>) -> Result<Plan> {
    let mut meta_args: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for ins in &df.instructions {
        if ins.keyword == "FROM" {
            let lookup = |k: &str| meta_args.get(k).cloned().flatten();
            let words = shell::words(&ins.text(), df.escape, &lookup).map_err(|e| at(ins, e))?;
            let (base, name) = match words.as_slice() {
                [b] => (b.clone(), None),
                [b, a, n] if a.eq_ignore_ascii_case("as") => {
                    (b.clone(), Some(n.to_ascii_lowercase()))
                }
                _ => {
                    return Err(BuildError::Parse {
                        line: ins.line,
                        message: "FROM requires either one or three arguments".into(),
                    })
                }
            };
            if base.is_empty() {
                return Err(BuildError::Parse {
                    line: ins.line,
                    message: "base name should not be blank".into(),
                });
            }
            if let Some(n) = &name {
                if stages.iter().any(|s| s.name.as_ref() == Some(n)) {
                    return Err(BuildError::Parse {
                        line: ins.line,
                        message: format!("duplicate stage name \"{n}\""),
                    });
                }
            }
            stages.push(Stage {
                index: stages.len(),
                name,
                base,
                from: ins.clone(),
                instructions: Vec::new(),
                deps: Vec::new(),
            });
            continue;
        }
        match stages.last_mut() {
            Some(s) => s.instructions.push(ins.clone()),
            None if ins.keyword == "ARG" => {
                for (k, v) in crate::builder::parse_arg(ins, df.escape, &|k| {
                    meta_args.get(k).cloned().flatten()
                })? {
                    let v = build_args.get(&k).cloned().or(v);
                    meta_args.insert(k, v);
                }
            }
            None => {
                return Err(BuildError::Parse {
                    line: ins.line,
                    message: format!(
                        "{} before the first FROM (only ARG may come first)",
                        ins.keyword
                    ),
                })
            }
        }
    }
    if stages.is_empty() {
        return Err(BuildError::Invalid(
            "the Dockerfile has no FROM instruction (file with no instructions?)".into(),
        ));
    }
    let mut plan = Plan { meta_args, stages };
    for i in 0..plan.stages.len() {
        let mut deps = Vec::new();
        if let Some(d) = plan.lookup(&plan.stages[i].base, i) {
            deps.push(d);
        }
        for ins in &plan.stages[i].instructions {
            if let Some(f) = ins.flag("from") {
                if let Some(d) = plan.lookup(f, i) {
                    deps.push(d);
                }
            }
        }
        deps.sort_unstable();
        deps.dedup();
        plan.stages[i].deps = deps;
    }
    Ok(plan)
}

fn at(ins: &Instruction, e: BuildError) -> BuildError {
    BuildError::Parse {
        line: ins.line,
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    #[test]
    fn dag_and_target() {
        let df = parse(
            "ARG BASE=busybox\nFROM ${BASE} AS a\nRUN x\nFROM busybox AS unused\nRUN y\nFROM a AS b\nFROM scratch\nCOPY --from=b /x /x\nCOPY --from=0 /y /y\n",
        )
        .unwrap();
        let p = plan(&df, &BTreeMap::new()).unwrap();
        assert_eq!(p.stages[0].base, "busybox");
        assert_eq!(p.stages[2].deps, vec![0]);
        assert_eq!(p.stages[3].deps, vec![0, 2]);
        assert_eq!(p.needed(p.target(None).unwrap()), vec![0, 2, 3]);
        assert_eq!(p.needed(p.target(Some("unused")).unwrap()), vec![1]);
        assert!(p.target(Some("nope")).is_err());
        let args = BTreeMap::from([("BASE".to_string(), "alpine".to_string())]);
        assert_eq!(plan(&df, &args).unwrap().stages[0].base, "alpine");
        assert!(plan(&parse("RUN x\n").unwrap(), &BTreeMap::new()).is_err());
    }
}
