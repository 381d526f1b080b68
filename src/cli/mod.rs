//! The command line: clap definitions, resolved into settings, one file per command.
//!
//! Every command opens a [`context::Context`] first and returns an [`exit::Done`] or a
//! [`CliError`]; [`exit`] alone maps them to SPEC exit codes. Command files (`plan`, `run`,
//! `report`, `status`, `graph`, `validate`, `sim_serve`, `dashboard`) never import each other:
//! what they share is in `context`, `exit`, `output`, `progress`, `run_report` and `live`.

mod backend;
pub mod context;
mod dashboard;
pub mod exit;
mod files;
mod graph;
mod live;
mod output;
mod plan;
mod plan_diff;
mod progress;
mod report;
mod run;
mod run_report;
mod schedule;
mod sim_serve;
mod state;
mod status;
mod validate;

pub use exit::{CliError, Done};

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// kong: evacuate traffic from a cloud region in safe steps, and bring it back.
#[derive(Debug, Parser)]
#[command(name = "kong", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Topology file, or a directory holding exactly one topology file.
    #[arg(long, global = true, default_value = "topology", env = "KONG_TOPOLOGY")]
    pub topology: PathBuf,
    /// Playbook file, or a directory of playbooks (`validate` checks all of them; other
    /// commands take `<dir>/<command>.yaml`, else `<dir>/evacuate.yaml`).
    #[arg(
        long,
        global = true,
        default_value = "playbooks",
        env = "KONG_PLAYBOOK"
    )]
    pub playbook: PathBuf,
    /// Where runs, journals, locks and the simulator's world are kept.
    #[arg(long, global = true, default_value = ".kong", env = "KONG_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Shared state: the lock and the journal in a DynamoDB table,
    /// `dynamodb://TABLE[?region=REGION]` (default: the topology's `state:`, else local
    /// files in the state dir). The simulator's world stays in the state dir.
    #[arg(long, global = true, value_name = "URL")]
    pub state: Option<String>,
    /// How long the run lock's lease lasts unless renewed (a live run renews it every
    /// third of it); another process takes the lock over only once it expired.
    #[arg(long, global = true, default_value = "30s", value_parser = crate::model::parse_duration, value_name = "DURATION")]
    pub lock_lease: std::time::Duration,
    /// Traffic backend; default: the topology's `backend:`, else `sim`.
    #[arg(long, global = true, value_enum)]
    pub backend: Option<BackendArg>,
    /// aws backend and CloudWatch checks (with any backend): one endpoint URL for every AWS
    /// service (a local emulator such as moto); AWS_ENDPOINT_URL is honoured too.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// aws backend and CloudWatch checks (with any backend): the named profile of
    /// ~/.aws/config to take credentials from (else AWS_PROFILE, the environment, SSO,
    /// instance metadata).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// aws: the SDK's region when neither AWS_REGION nor the profile sets one (Route 53 is
    /// global; each alb dial uses its own `region`; CloudWatch checks read the region they
    /// check, or the topology's `metrics.cloudwatch.region`).
    #[arg(
        long,
        global = true,
        default_value = "us-east-1",
        value_name = "REGION"
    )]
    pub aws_region: String,
    /// aws: Route 53 requests per second kong allows itself (the account's API rate is 5,
    /// shared with every other client of the account).
    #[arg(long, global = true, default_value_t = 5.0, value_name = "N")]
    pub route53_rate: f64,
    /// aws: time allowed for one attempt of one AWS call before it counts as a transient
    /// failure (a CloudWatch check's fetch is also bounded by the check's `timeout`).
    #[arg(long, global = true, default_value = "20s", value_parser = crate::model::parse_duration, value_name = "DURATION")]
    pub aws_call_timeout: std::time::Duration,
    /// aws: how long to wait for Route 53 to report a change INSYNC before aborting.
    #[arg(long, global = true, default_value = "10m", value_parser = crate::model::parse_duration, value_name = "DURATION")]
    pub route53_sync_timeout: std::time::Duration,
}

/// `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// The embedded simulator (state in the state dir).
    Sim,
    /// Route 53 and ELBv2 through the AWS SDK.
    Aws,
}

/// Output format of `kong report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Markdown, with the charts as SVG files beside it.
    Markdown,
    /// One self-contained HTML page, charts inline.
    Html,
}

/// Output format of `kong plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Terraform-like, one line per dial change.
    Text,
    /// For a pull-request comment.
    Markdown,
    /// The SPEC plan JSON.
    Json,
}

/// Output format of `kong graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// `evacuate` or `restore`, for `kong plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OperationArg {
    /// Move traffic away from the region.
    Evacuate,
    /// Bring it back to the baseline of the region's last evacuation.
    Restore,
}

/// Output format of `kong status` and `kong runs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// For programs (stdout stays pure JSON).
    Json,
}

/// Flags of every command that moves traffic.
#[derive(Debug, Clone, Copy, Args)]
pub struct RunFlags {
    /// Skip the initial confirmation (approval gates still apply: see --approve).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Approve every approval gate of the playbook in advance (needed when not on a terminal).
    #[arg(long)]
    pub approve: bool,
    /// Run pre-flight and evaluate every check without changing a weight.
    #[arg(long)]
    pub dry_run: bool,
    /// Simulator only: divide bake, propagation and hold waits by N (demos, tests).
    #[arg(long, default_value_t = 1.0, value_name = "N")]
    pub time_scale: f64,
    /// Print every check evaluation (default: one line per step sums them up; a check is
    /// printed on its own only when it fails or comes within 10% of its threshold).
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// `kong drill`'s flags about the playbook's `schedule`.
#[derive(Debug, Clone, Args)]
pub struct ScheduleFlags {
    /// Run only when the schedule allows it and the region's last completed drill is older
    /// than `min_interval`; otherwise print one `not due: ...` line and exit 0.
    #[arg(long, conflicts_with = "force")]
    pub if_due: bool,
    /// Drill although the schedule does not allow it now (needs --reason).
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Why the drill runs outside its schedule (journaled with the operator).
    #[arg(long, requires = "force", value_name = "TEXT")]
    pub reason: Option<String>,
}

/// The commands.
// Parsed once per process: `kong plan`'s variant (with its `diff` subcommand) being the
// largest costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every topology and playbook file; changes nothing.
    Validate {
        #[command(flatten)]
        common: Common,
    },
    /// Print the plan of an evacuation or restore from the live weights; changes nothing.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Plan {
        /// `kong plan diff OLD.json NEW.json`.
        #[command(subcommand)]
        diff: Option<PlanCommand>,
        /// `evacuate` or `restore`.
        #[arg(value_enum, required = true)]
        operation: Option<OperationArg>,
        /// The region.
        #[arg(required = true)]
        region: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: PlanFormat,
        /// Markdown only: keep the output within N characters (a GitHub comment holds
        /// 65,536): the summary, the pre-flight rows (failing and tightest first) and the
        /// waves first, the per-step weight tables in `<details>` as room allows; what does
        /// not fit is left out with a line saying so (`--out` saves it all).
        #[arg(long, value_name = "N")]
        max_chars: Option<usize>,
        /// Also save the JSON plan to this file (for `kong evacuate --plan FILE`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Plan on the topology's declared `load` and `capacity` even where a service has a
        /// `load_query` or `autoscaling` groups (e.g. in CI without access to the metrics or
        /// the groups); the plan then says so.
        #[arg(long)]
        declared_load: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Evacuate REGION: plan, pre-flight, confirm, then shift traffic away step by step.
    Evacuate {
        /// The region to evacuate.
        region: String,
        /// Execute this saved plan (from `kong plan --out`) exactly as reviewed: refused
        /// (exit 3) unless it is identical to the plan computed now from the same files, the
        /// live weights and the figures it records, and its pre-flight passes with the live
        /// figures of now.
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        #[command(flatten)]
        flags: RunFlags,
        #[command(flatten)]
        common: Common,
    },
    /// Fail back REGION to the baseline of its last evacuation, stepwise, callees first.
    Restore {
        /// The region to restore.
        region: String,
        /// Execute this saved restore plan exactly as reviewed (see `kong evacuate --plan`).
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        #[command(flatten)]
        flags: RunFlags,
        #[command(flatten)]
        common: Common,
    },
    /// Evacuate REGION, hold, restore, and print the report; exit code of the worst phase.
    Drill {
        /// The region to drill.
        region: String,
        /// Time to stay evacuated (default: the playbook's `hold`), e.g. `10m`.
        #[arg(long, value_parser = crate::model::parse_duration)]
        hold: Option<std::time::Duration>,
        #[command(flatten)]
        schedule: ScheduleFlags,
        #[command(flatten)]
        flags: RunFlags,
        #[command(flatten)]
        common: Common,
    },
    /// The next opening of the drill playbook's schedule and the last drill of each region.
    Schedule {
        /// Only this region.
        #[arg(long)]
        region: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
        #[command(flatten)]
        common: Common,
    },
    /// Live shares per service and region, the run in progress, who holds the lock.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
        #[command(flatten)]
        common: Common,
    },
    /// Continue a paused or interrupted run from its journal.
    Resume {
        /// The run id (see `kong runs`).
        run: String,
        #[command(flatten)]
        flags: RunFlags,
        #[command(flatten)]
        common: Common,
    },
    /// Return every dial a paused, interrupted or failed run touched to its baseline.
    Rollback {
        /// The run id (see `kong runs`).
        run: String,
        #[command(flatten)]
        flags: RunFlags,
        #[command(flatten)]
        common: Common,
    },
    /// Run history, oldest first.
    Runs {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
        #[command(flatten)]
        common: Common,
    },
    /// The report of one run (a drill's evacuation with its restore): summary, charts and
    /// every step, for a game-day write-up.
    Report {
        /// The run id (see `kong runs`).
        run: String,
        /// Markdown (charts as SVG files beside it) or one self-contained HTML page.
        #[arg(long, value_enum, default_value = "markdown")]
        format: ReportFormat,
        /// Write the report to FILE instead of stdout (Markdown: charts as FILE-NAME.svg).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// The shared state: create the DynamoDB table, check access, move runs in and out.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// A read-only local web page following the active (or last) run live.
    ///
    /// Serves a page showing the regions and the traffic between them, each service's live
    /// shares, the current wave and step, each check's last value against its threshold and
    /// the run's timeline, following the topology's active run (else its last one) from the
    /// state; the page polls every 500 ms, so a run moved by another kong process shows up
    /// live. GET /api/state answers the same view as JSON. Nothing on the page acts: it
    /// moves no traffic. Listens on loopback unless --allow-remote is given (then warns).
    /// Runs until SIGINT or SIGTERM.
    Dashboard {
        /// Address to listen on (port 0: any free port; the URL is printed).
        #[arg(long, default_value = "127.0.0.1:9465", value_name = "HOST:PORT")]
        listen: String,
        /// Allow --listen on an address other than loopback (anyone who can reach it can
        /// read the page).
        #[arg(long)]
        allow_remote: bool,
        #[command(flatten)]
        common: Common,
    },
    /// The simulator's tools.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
    /// Print the dependency topology as DOT or Mermaid.
    Graph {
        /// Output format.
        #[arg(long, value_enum, default_value = "dot")]
        format: GraphFormat,
        #[command(flatten)]
        common: Common,
    },
}

/// `kong plan ...` subcommands.
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// What changed between two saved plans (`kong plan --out`): waves, steps, weight
    /// changes, pre-flight rows, notes. Exit 0 when identical, 1 when they differ (like
    /// `diff`), 2 when a file is not a kong plan.
    Diff {
        /// The plan before (e.g. the one reviewed).
        old: PathBuf,
        /// The plan after.
        new: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: DiffFormat,
        #[command(flatten)]
        common: Common,
    },
}

/// Output format of `kong plan diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// One line per difference, by section.
    Text,
    /// One table per section, for a pull-request comment.
    Markdown,
}

/// `kong sim ...`.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve the simulator's metrics for Prometheus on GET /metrics, computed on every
    /// scrape from the live weights of the backend's dials.
    ///
    /// Every scrape reads the live weights of every dial through the backend (`--backend
    /// sim`: the world in the state dir, so moves made by any kong process show up; `--backend
    /// aws`: Route 53 and ELBv2, e.g. on moto with --endpoint-url) and computes the
    /// simulator's traffic model from them. Gauges, one per SPEC metric:
    ///
    ///   kong_sim_requests_per_second, kong_sim_utilization, kong_sim_error_rate,
    ///   kong_sim_p50_latency_ms, kong_sim_p99_latency_ms
    ///
    /// each with one sample per service and region, `{service="...",region="..."}`, and one
    /// per region total, `{region="..."}` (no service label; what a `sim` check without
    /// `service:` reads). A failed read answers HTTP 500 (Prometheus then marks the target
    /// down, so prometheus checks get no data and fail). Prints the URL it serves on, then
    /// runs until SIGINT or SIGTERM; never changes a weight.
    Serve {
        /// Address to listen on (port 0: any free port; the URL is printed).
        #[arg(long, default_value = "127.0.0.1:9464", value_name = "HOST:PORT")]
        listen: String,
        #[command(flatten)]
        common: Common,
    },
}

/// `kong state ...`.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Create the DynamoDB table of `--state` (or the topology's `state:`): on-demand
    /// capacity, keys `pk` and `sk`; an existing table is kept.
    Init {
        /// Also turn on point-in-time recovery (continuous backups, 35 days).
        #[arg(long)]
        point_in_time_recovery: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Verify the table: access, consistent reads, conditional writes; a failure names the
    /// missing IAM permission.
    Check {
        #[command(flatten)]
        common: Common,
    },
    /// Print one run's journal as JSON lines (the local journal's format), e.g.
    /// `kong state export RUN > run.jsonl`.
    Export {
        /// The run id (see `kong runs`).
        run: String,
        #[command(flatten)]
        common: Common,
    },
    /// Write an exported run (JSON lines) into the state as a new run; refused if it exists.
    Import {
        /// The file from `kong state export`.
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
}

/// Runs the parsed command; [`exit::exit_code`] gives the process exit code of the result.
pub fn run(cli: Cli) -> Result<Done, CliError> {
    match cli.command {
        Command::Validate { common } => validate::run(&common),
        Command::Plan {
            diff:
                Some(PlanCommand::Diff {
                    old,
                    new,
                    format,
                    common,
                }),
            ..
        } => plan_diff::run(&common, &old, &new, format),
        Command::Plan {
            diff: None,
            operation,
            region,
            format,
            max_chars,
            out,
            declared_load,
            common,
        } => {
            // clap requires both without a subcommand.
            let (Some(operation), Some(region)) = (operation, region) else {
                return Err(CliError::Usage(
                    "kong plan needs OPERATION and REGION (or `kong plan diff OLD NEW`)".into(),
                ));
            };
            plan::run(
                &common,
                operation,
                &region,
                format,
                max_chars,
                out.as_deref(),
                declared_load,
            )
        }
        Command::Graph { format, common } => graph::run(&common, format),
        Command::Evacuate {
            region,
            plan,
            flags,
            common,
        } => run::evacuate_or_restore(
            &common,
            &flags,
            crate::plan::Operation::Evacuate,
            &region,
            plan.as_deref(),
        ),
        Command::Restore {
            region,
            plan,
            flags,
            common,
        } => run::evacuate_or_restore(
            &common,
            &flags,
            crate::plan::Operation::Restore,
            &region,
            plan.as_deref(),
        ),
        Command::Drill {
            region,
            hold,
            schedule,
            flags,
            common,
        } => run::drill(&common, &flags, &region, hold, &schedule),
        Command::Schedule {
            region,
            format,
            common,
        } => schedule::run(&common, region.as_deref(), format),
        Command::Status { format, common } => status::status(&common, format),
        Command::Resume { run, flags, common } => run::recover(&common, &flags, &run, false),
        Command::Rollback { run, flags, common } => run::recover(&common, &flags, &run, true),
        Command::Runs { format, common } => status::runs(&common, format),
        Command::Report {
            run,
            format,
            out,
            common,
        } => report::run(&common, &run, format, out.as_deref()),
        Command::Dashboard {
            listen,
            allow_remote,
            common,
        } => dashboard::run(&common, &listen, allow_remote),
        Command::Sim {
            command: SimCommand::Serve { listen, common },
        } => sim_serve::run(&common, &listen),
        Command::State { command } => match command {
            StateCommand::Init {
                point_in_time_recovery,
                common,
            } => state::init(&common, point_in_time_recovery),
            StateCommand::Check { common } => state::check(&common),
            StateCommand::Export { run, common } => state::export(&common, &run),
            StateCommand::Import { file, common } => state::import(&common, &file),
        },
    }
}
