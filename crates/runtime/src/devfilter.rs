//! Compiles OCI device rules into a `BPF_PROG_TYPE_CGROUP_DEVICE` program: the cgroup v2
//! device controller.
//!
//! The kernel runs the program for every device access (open, mknod) in the cgroup with a
//! context `{ u32 access_type; u32 major; u32 minor; }`, where `access_type` holds the
//! device type (1 block, 2 char) in its low 16 bits and the requested access (1 mknod,
//! 2 read, 4 write) in its high 16 bits. Returning 1 allows the access, 0 denies it (EPERM).
//!
//! Semantics: the default is deny, and for every requested access bit the **last** rule
//! that matches the device and includes that bit decides; the access is allowed only when
//! every requested bit is allowed. (runc gets the same result by normalising the rules
//! through its v1 emulator, then testing the normalised rules in reverse order.)
//!
//! Layout of the generated program: a prologue loads type, access, major and minor into
//! r2..r5; then one chain per access bit (mknod, read, write). A chain is skipped when its
//! bit is not requested; otherwise it tests the rules that include the bit, last rule first:
//! a matching allow jumps to the next chain, a matching deny returns 0, no match returns 0.
//! After the last chain the program returns 1. Rules after an unconditional rule (type `a`,
//! both numbers wildcards) in evaluation order are never emitted: the verifier refuses
//! unreachable instructions.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// `BPF_DEVCG_DEV_BLOCK`.
pub const DEV_BLOCK: u32 = 1;
/// `BPF_DEVCG_DEV_CHAR`.
pub const DEV_CHAR: u32 = 2;
/// `BPF_DEVCG_ACC_MKNOD`.
pub const ACC_MKNOD: u32 = 1;
/// `BPF_DEVCG_ACC_READ`.
pub const ACC_READ: u32 = 2;
/// `BPF_DEVCG_ACC_WRITE`.
pub const ACC_WRITE: u32 = 4;

/// One eBPF instruction (`struct bpf_insn`): opcode, dst (low nibble) and src (high nibble)
/// registers, 16-bit offset, 32-bit immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode (class | size/op | mode/source).
    pub code: u8,
    /// `dst_reg | src_reg << 4`.
    pub regs: u8,
    /// Jump or memory offset.
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

// Opcodes used (see linux/bpf_common.h and linux/bpf.h).
pub(crate) const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
pub(crate) const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub(crate) const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
pub(crate) const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
pub(crate) const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
pub(crate) const JMP_JA: u8 = 0x05; // BPF_JMP | BPF_JA
pub(crate) const JMP_JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
pub(crate) const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
pub(crate) const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (dst & 0xf) | (src << 4),
        off,
        imm,
    }
}

/// A device rule reduced to what the program tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// `DEV_BLOCK`, `DEV_CHAR`, or `None` for any type (`a`).
    pub typ: Option<u32>,
    /// Major number, `None` = any.
    pub major: Option<u32>,
    /// Minor number, `None` = any.
    pub minor: Option<u32>,
    /// Access bits (`ACC_*`).
    pub access: u32,
    /// Allow (true) or deny.
    pub allow: bool,
}

impl Rule {
    /// Converts an OCI rule; `None` for rules that can never match a device access
    /// (fifos: the kernel only asks about block and char devices).
    pub fn from_oci(r: &LinuxDeviceCgroup) -> Option<Rule> {
        let typ = match r.typ() {
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => Some(DEV_CHAR),
            Some(LinuxDeviceType::B) => Some(DEV_BLOCK),
            Some(LinuxDeviceType::P) => return None,
            Some(LinuxDeviceType::A) | None => None,
        };
        let num = |v: Option<i64>| v.filter(|x| *x >= 0).and_then(|x| u32::try_from(x).ok());
        Some(Rule {
            typ,
            major: num(r.major()),
            minor: num(r.minor()),
            access: parse_access(r.access().as_deref().unwrap_or("rwm")),
            allow: r.allow(),
        })
    }

    /// Parses a v1 `devices.allow` line (`c 1:3 rwm`, `b *:* m`, `a`).
    pub fn from_line(line: &str, allow: bool) -> Option<Rule> {
        let mut it = line.split_whitespace();
        let typ = match it.next()? {
            "c" => Some(DEV_CHAR),
            "b" => Some(DEV_BLOCK),
            "a" => None,
            _ => return None,
        };
        let (ma, mi) = it.next().unwrap_or("*:*").split_once(':')?;
        let num = |s: &str| {
            if s == "*" {
                Ok(None)
            } else {
                s.parse().map(Some)
            }
        };
        Some(Rule {
            typ,
            major: num(ma).ok()?,
            minor: num(mi).ok()?,
            access: parse_access(it.next().unwrap_or("rwm")),
            allow,
        })
    }

    fn matches_any(&self) -> bool {
        self.typ.is_none() && self.major.is_none() && self.minor.is_none()
    }

    /// Whether this rule matches the device (ignoring access).
    pub fn matches(&self, typ: u32, major: u32, minor: u32) -> bool {
        self.typ.is_none_or(|t| t == typ)
            && self.major.is_none_or(|m| m == major)
            && self.minor.is_none_or(|m| m == minor)
    }
}

fn parse_access(s: &str) -> u32 {
    s.chars().fold(0, |acc, c| {
        acc | match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        }
    })
}

/// The reference decision (what the program must compute): per requested bit, the last
/// matching rule that includes the bit decides; default deny.
pub fn decide(rules: &[Rule], typ: u32, major: u32, minor: u32, access: u32) -> bool {
    [ACC_MKNOD, ACC_READ, ACC_WRITE]
        .into_iter()
        .filter(|b| access & b != 0)
        .all(|b| {
            rules
                .iter()
                .rev()
                .find(|r| r.access & b != 0 && r.matches(typ, major, minor))
                .is_some_and(|r| r.allow)
        })
}

/// Generates the program for `rules` (in config order).
pub fn compile(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        // r2 = type, r3 = access, r4 = major, r5 = minor (r1 = ctx).
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for bit in [ACC_MKNOD, ACC_READ, ACC_WRITE] {
        let body = chain_body(rules, bit);
        if body.is_empty() {
            continue; // the bit is allowed for every device
        }
        // if ((access & bit) == 0) skip the chain
        p.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
        p.push(insn(ALU32_AND_K, 1, 0, 0, bit as i32));
        p.push(insn(JMP_JEQ_K, 1, 0, body.len() as i16, 0));
        p.extend(body);
    }
    p.push(insn(ALU64_MOV_K, 0, 0, 0, 1));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// The rule tests of one access bit; every "allowed" path ends by falling off the end of
/// the returned block (a jump to its end), every "denied" path returns 0.
fn chain_body(rules: &[Rule], bit: u32) -> Vec<Insn> {
    // Each block: its checks (jump to the next block on mismatch) and its verdict.
    let mut blocks: Vec<Vec<Insn>> = Vec::new();
    let mut exhaustive = false;
    for r in rules.iter().rev().filter(|r| r.access & bit != 0) {
        let mut checks = Vec::new();
        if let Some(t) = r.typ {
            checks.push((2u8, t));
        }
        if let Some(m) = r.major {
            checks.push((4, m));
        }
        if let Some(m) = r.minor {
            checks.push((5, m));
        }
        let verdict: Vec<Insn> = if r.allow {
            vec![insn(JMP_JA, 0, 0, 0, 0)] // target patched below
        } else {
            vec![insn(ALU64_MOV_K, 0, 0, 0, 0), insn(JMP_EXIT, 0, 0, 0, 0)]
        };
        let n = checks.len();
        let mut b: Vec<Insn> = checks
            .iter()
            .enumerate()
            .map(|(i, (reg, v))| {
                let skip = (n - i - 1 + verdict.len()) as i16;
                insn(JMP_JNE_K, *reg, 0, skip, *v as i32)
            })
            .collect();
        b.extend(verdict);
        let any = r.matches_any();
        if any && r.allow {
            // Unconditional allow: the block is "fall through to the end".
            b.pop();
        }
        blocks.push(b);
        if any {
            exhaustive = true;
            break;
        }
    }
    if !exhaustive {
        blocks.push(vec![
            insn(ALU64_MOV_K, 0, 0, 0, 0),
            insn(JMP_EXIT, 0, 0, 0, 0),
        ]);
    }
    let mut out: Vec<Insn> = blocks.into_iter().flatten().collect();
    // Patch the allow jumps to the end of the chain.
    let len = out.len();
    for (i, ins) in out.iter_mut().enumerate() {
        if ins.code == JMP_JA {
            ins.off = (len - i - 1) as i16;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small interpreter of the instructions `compile` emits.
    fn run(prog: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        for _ in 0..10_000 {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1, "loads only from ctx");
                    r[dst] = u64::from(ctx[(i.off / 4) as usize]);
                }
                ALU32_AND_K => r[dst] = u64::from((r[dst] as u32) & (i.imm as u32)),
                ALU32_RSH_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                ALU32_MOV_X => r[dst] = u64::from(r[src] as u32),
                ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                JMP_JA => pc = (pc as i64 + i64::from(i.off)) as usize,
                JMP_JEQ_K if r[dst] == i.imm as i64 as u64 => {
                    pc = (pc as i64 + i64::from(i.off)) as usize
                }
                JMP_JNE_K if r[dst] != i.imm as i64 as u64 => {
                    pc = (pc as i64 + i64::from(i.off)) as usize
                }
                JMP_JEQ_K | JMP_JNE_K => {}
                JMP_EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
        panic!("program did not terminate");
    }

    /// Every instruction is reachable and every jump lands inside the program (what the
    /// kernel verifier demands of this simple, loop-free code).
    fn check_shape(prog: &[Insn]) {
        let mut seen = vec![false; prog.len()];
        let mut todo = vec![0usize];
        while let Some(pc) = todo.pop() {
            assert!(pc < prog.len(), "jump out of program");
            if std::mem::replace(&mut seen[pc], true) {
                continue;
            }
            let i = prog[pc];
            let tgt = (pc as i64 + 1 + i64::from(i.off)) as usize;
            match i.code {
                JMP_EXIT => {}
                JMP_JA => todo.push(tgt),
                JMP_JEQ_K | JMP_JNE_K => {
                    assert!(tgt > pc, "backward jump");
                    todo.push(tgt);
                    todo.push(pc + 1);
                }
                _ => todo.push(pc + 1),
            }
        }
        assert!(seen.iter().all(|s| *s), "unreachable instructions");
    }

    fn rules(list: &[(&str, bool)]) -> Vec<Rule> {
        list.iter()
            .map(|(l, a)| Rule::from_line(l, *a).unwrap())
            .collect()
    }

    fn allowed(rs: &[Rule], typ: u32, major: u32, minor: u32, acc: &str) -> bool {
        let access = parse_access(acc);
        let prog = compile(rs);
        check_shape(&prog);
        let got = run(&prog, typ, access, major, minor) == 1;
        assert_eq!(
            got,
            decide(rs, typ, major, minor, access),
            "program and reference disagree for {typ} {major}:{minor} {acc}"
        );
        got
    }

    fn docker_rules() -> Vec<Rule> {
        let mut v = rules(&[("a", false), ("c 1:3 rwm", true), ("c 136:* rwm", true)]);
        v.extend(
            crate::cgroups::DEFAULT_ALLOWED_DEVICES
                .iter()
                .map(|l| Rule::from_line(l, true).unwrap()),
        );
        v
    }

    #[test]
    fn default_rules_allow_the_standard_nodes_only() {
        let rs = docker_rules();
        assert!(allowed(&rs, DEV_CHAR, 1, 3, "rw"));
        assert!(allowed(&rs, DEV_CHAR, 1, 5, "r"));
        assert!(allowed(&rs, DEV_CHAR, 1, 9, "rw"));
        assert!(allowed(&rs, DEV_CHAR, 5, 0, "rw"));
        assert!(allowed(&rs, DEV_CHAR, 136, 4, "rw"));
        assert!(allowed(&rs, DEV_CHAR, 10, 200, "rw"));
        assert!(allowed(&rs, DEV_CHAR, 8, 0, "m"));
        assert!(allowed(&rs, DEV_BLOCK, 8, 0, "m"));
        assert!(!allowed(&rs, DEV_BLOCK, 8, 0, "r"));
        assert!(!allowed(&rs, DEV_BLOCK, 8, 0, "rw"));
        assert!(!allowed(&rs, DEV_CHAR, 1, 11, "w"));
        assert!(!allowed(&rs, DEV_CHAR, 1, 1, "r"));
        assert!(!allowed(&rs, DEV_CHAR, 10, 229, "rw"));
    }

    #[test]
    fn last_matching_rule_wins_per_access_bit() {
        let rs = rules(&[("a", false), ("c 1:11 rw", true), ("c 1:11 w", false)]);
        assert!(allowed(&rs, DEV_CHAR, 1, 11, "r"));
        assert!(!allowed(&rs, DEV_CHAR, 1, 11, "w"));
        assert!(!allowed(&rs, DEV_CHAR, 1, 11, "rw"));
        assert!(!allowed(&rs, DEV_CHAR, 1, 11, "m"));
        // Allows split over two rules combine.
        let rs = rules(&[("c 1:11 r", true), ("c 1:11 w", true)]);
        assert!(allowed(&rs, DEV_CHAR, 1, 11, "rw"));
        assert!(!allowed(&rs, DEV_CHAR, 1, 11, "rwm"));
        // A later deny-all overrides everything before it.
        let rs = rules(&[("c 1:3 rwm", true), ("a", false)]);
        assert!(!allowed(&rs, DEV_CHAR, 1, 3, "r"));
        // Allow-all then a specific deny.
        let rs = rules(&[("a", true), ("b 8:* w", false)]);
        assert!(allowed(&rs, DEV_BLOCK, 8, 1, "r"));
        assert!(!allowed(&rs, DEV_BLOCK, 8, 1, "w"));
        assert!(allowed(&rs, DEV_CHAR, 8, 1, "w"));
        // Wildcard type and minor.
        let rs = rules(&[("a 7:* r", true)]);
        assert!(allowed(&rs, DEV_BLOCK, 7, 3, "r"));
        assert!(allowed(&rs, DEV_CHAR, 7, 0, "r"));
        assert!(!allowed(&rs, DEV_CHAR, 8, 0, "r"));
    }

    #[test]
    fn empty_rules_deny_everything() {
        assert!(!allowed(&[], DEV_CHAR, 1, 3, "r"));
        assert!(!allowed(&[], DEV_BLOCK, 1, 3, "m"));
    }

    #[test]
    fn exhaustive_agreement_with_the_reference() {
        let sets = [
            docker_rules(),
            rules(&[("a", true)]),
            rules(&[("a *:* rw", true), ("c *:5 w", false), ("b 1:* m", true)]),
            rules(&[("c 1:* rwm", true), ("c *:3 r", false), ("a *:* m", false)]),
        ];
        for rs in &sets {
            for typ in [DEV_BLOCK, DEV_CHAR] {
                for access in 1..8u32 {
                    for major in [0, 1, 5, 7, 8, 136] {
                        for minor in [0, 3, 5, 9] {
                            let prog = compile(rs);
                            check_shape(&prog);
                            assert_eq!(
                                run(&prog, typ, access, major, minor) == 1,
                                decide(rs, typ, major, minor, access),
                                "{rs:?}: {typ} {major}:{minor} {access}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn oci_rules_convert() {
        let r: LinuxDeviceCgroup = serde_json::from_str(
            r#"{"allow": true, "type": "c", "major": 1, "minor": -1, "access": "rw"}"#,
        )
        .unwrap();
        assert_eq!(
            Rule::from_oci(&r),
            Some(Rule {
                typ: Some(DEV_CHAR),
                major: Some(1),
                minor: None,
                access: ACC_READ | ACC_WRITE,
                allow: true
            })
        );
        let r: LinuxDeviceCgroup = serde_json::from_str(r#"{"allow": false}"#).unwrap();
        assert!(Rule::from_oci(&r).unwrap().matches_any());
    }
}
