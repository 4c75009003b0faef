use clap::Parser;

fn main() {
    let cli = cartevo_enroll::cli::Cli::parse();
    cartevo_enroll::logging::init(cli.log_format, cli.verbose);
    let code = match cartevo_enroll::app::main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
