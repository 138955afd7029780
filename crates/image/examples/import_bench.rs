//! Times `ImageStore::import` of a tar file: `import_bench <tar> <data-root>`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (tar, root) = match (args.get(1), args.get(2)) {
        (Some(t), Some(r)) => (t, r),
        _ => {
            eprintln!("usage: import_bench <tar> <data-root>");
            std::process::exit(2);
        }
    };
    let store = image::ImageStore::open(root).expect("open store");
    let f = std::fs::File::open(tar).expect("open tar");
    let t = std::time::Instant::now();
    let rec = store
        .import(std::io::BufReader::new(f), Default::default())
        .expect("import");
    println!("{} size={} in {:?}", rec.id, rec.size, t.elapsed());
}
