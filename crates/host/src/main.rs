use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = gongjian_host::cli::Cli::parse();
    match gongjian_host::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gongjian: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
