#[derive(clap::Args)]
pub struct Args {}

pub async fn run(_a: Args) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
