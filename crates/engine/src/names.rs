//! Docker-style random container names (`adjective_surname`).

use rand::seq::IndexedRandom;

const LEFT: &[&str] = &[
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful",
    "blissful", "bold", "boring", "brave", "busy", "charming", "clever", "compassionate",
    "competent", "condescending", "confident", "cool", "cranky", "crazy", "dazzling", "determined",
    "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant", "eloquent",
    "epic", "exciting", "fervent", "festive", "flamboyant", "focused", "friendly", "frosty",
    "funny", "gallant", "gifted", "goofy", "gracious", "great", "happy", "hardcore", "heuristic",
    "hopeful", "hungry", "infallible", "inspiring", "intelligent", "interesting", "jolly",
    "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest", "musing",
    "mystifying", "naughty", "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic",
    "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical",
    "recursing", "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly",
    "sleepy", "stoic", "strange", "stupefied", "suspicious", "sweet", "tender", "thirsty",
    "trusting", "unruffled", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly",
    "wonderful", "xenodochial", "youthful", "zealous", "zen",
];

const RIGHT: &[&str] = &[
    "agnesi", "albattani", "allen", "archimedes", "ardinghelli", "babbage", "banach", "bardeen",
    "bartik", "bassi", "bell", "benz", "bhabha", "black", "bohr", "booth", "borg", "bose",
    "brahmagupta", "brattain", "brown", "carson", "cerf", "chandrasekhar", "chatelet",
    "chebyshev", "cohen", "curie", "darwin", "davinci", "dijkstra", "dirac", "easley", "einstein",
    "elion", "engelbart", "euclid", "euler", "fermat", "fermi", "feynman", "franklin", "galileo",
    "gates", "goldberg", "goldstine", "goodall", "gould", "hamilton", "hawking", "heisenberg",
    "hertz", "hodgkin", "hofstadter", "hopper", "hugle", "hypatia", "jackson", "jennings",
    "jepsen", "johnson", "joliot", "kalam", "kapitsa", "keller", "kepler", "khorana", "knuth",
    "kowalevski", "lalande", "lamarr", "lamport", "leakey", "leavitt", "lederberg", "lovelace",
    "lumiere", "mahavira", "mayer", "mccarthy", "mcclintock", "meitner", "mendel", "merkle",
    "mirzakhani", "montalcini", "moore", "morse", "napier", "nash", "newton", "nobel", "noether",
    "noyce", "pare", "pascal", "pasteur", "payne", "perlman", "pike", "poincare", "ptolemy",
    "raman", "ramanujan", "ritchie", "rosalind", "sammet", "shannon", "shockley", "sinoussi",
    "stallman", "swartz", "tesla", "thompson", "torvalds", "turing", "varahamihira", "visvesvaraya",
    "wiles", "williams", "wilson", "wing", "wozniak", "wright", "yalow", "yonath",
];

/// A random `adjective_surname` name; `retry > 0` appends a digit like Docker does.
pub fn random_name(retry: u32) -> String {
    let mut rng = rand::rng();
    let l = LEFT.choose(&mut rng).copied().unwrap_or("happy");
    let r = RIGHT.choose(&mut rng).copied().unwrap_or("turing");
    if retry > 0 {
        format!("{l}_{r}{}", rand::random_range(0..10u32))
    } else {
        format!("{l}_{r}")
    }
}

/// Whether `name` is a valid container name (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    name.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid() {
        for i in 0..50 {
            assert!(valid_name(&random_name(i % 2)));
        }
        assert!(!valid_name("/x"));
        assert!(!valid_name("a"));
        assert!(valid_name("web-1.x_y"));
    }
}
