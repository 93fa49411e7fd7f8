//! Where the model's load time goes: prints a table of each step, median of N loads.
//!
//! cargo run --release -p baton-embed --example load_bench [-- RUNS]
use std::time::Instant;

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|r| r.parse().ok()).unwrap_or(15);
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv");
    let dir = baton_embed::find_model_dir(&venv).expect("the model is installed (infra/local/venv)");
    let mut totals = Vec::new();
    let mut firsts = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let m = baton_embed::MiniLm::load(&dir).expect("loads");
        totals.push(t.elapsed());
        let t = Instant::now();
        baton_domain::retrieval::Embedder::embed(&m, &["where is my order"]).expect("embeds");
        firsts.push(t.elapsed());
    }
    totals.sort();
    firsts.sort();
    println!("| step | median | min | max |");
    println!("|---|---|---|---|");
    for (name, v) in [("load", &totals), ("first embedding", &firsts)] {
        println!(
            "| {name} | {:.2?} | {:.2?} | {:.2?} |",
            v[v.len() / 2],
            v[0],
            v[v.len() - 1]
        );
    }
}
