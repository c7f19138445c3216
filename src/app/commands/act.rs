//! Acting commands: `takeover`, `pause`, `resume`, `say`, `instruct`, `end`, and `queue`.
//! The gateway checks the rules at the moment it acts (another supervisor may have got
//! there first); its refusal becomes the exit code, not a guess made here beforehand.

use std::io::Write;

use super::output::{
    clean, customer, json_line, local_datetime, or_dash, short_id, Cell, Out, Table,
};
use super::{resolve, CmdResult, Ctx};
use crate::app::cli::{QueueAddArgs, QueueArgs, QueueCommand};
use crate::core::action::Action;
use crate::core::model::QueueItem;
use crate::core::protocol::InitiateRequest;

fn say(line: &str) -> CmdResult {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(())
}

pub async fn act(ctx: &Ctx, out: &Out, id: &str, action: Action, json: bool) -> CmdResult {
    let call = resolve::call(&ctx.client, id).await?;
    let done = ctx.client.act(&call.id, &action).await?;
    if json {
        return json_line(&done);
    }
    let verb = match action {
        Action::TakeOver { .. } => "took over",
        Action::PauseAi => "paused the AI on",
        Action::ResumeAi => "resumed the AI on",
        Action::Say { .. } => "said it on",
        Action::Instruct { .. } => "instructed the AI on",
        Action::End => "ended",
        Action::Transfer { .. } => "transferred",
        Action::HandBack => "handed back",
    };
    say(&format!(
        "{verb} call {} ({}), now {}",
        short_id(&done.call.id),
        clean(customer(&done.call)),
        out.state(done.call.state)
    ))
}

pub async fn queue(ctx: &Ctx, out: &Out, args: &QueueArgs) -> CmdResult {
    let json = args.json;
    match args.command.as_ref().unwrap_or(&QueueCommand::List) {
        QueueCommand::List => {
            let items = ctx.client.queue().await?;
            if json {
                return json_line(&items);
            }
            let mut text = queue_table(&items).render(out);
            if items.is_empty() {
                text.push_str("(the queue is empty)\n");
            }
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            Ok(())
        }
        QueueCommand::Add(a) => {
            let item = ctx.client.initiate(&initiate(a)).await?;
            if json {
                return json_line(&item);
            }
            say(&format!(
                "queued {} for {}",
                short_id(&item.id),
                clean(&item.phone_number)
            ))
        }
        QueueCommand::Cancel { id } => {
            let item = resolve::queue_item(&ctx.client, id).await?;
            let after = ctx.client.cancel_queue_item(&item.id).await?;
            let item = after.unwrap_or(item);
            if json {
                return json_line(&item);
            }
            say(&format!("cancelled {}", short_id(&item.id)))
        }
        QueueCommand::DialNow { id } => {
            let item = resolve::queue_item(&ctx.client, id).await?;
            let after = ctx.client.dial_now(&item.id).await?;
            let item = after.unwrap_or(item);
            if json {
                return json_line(&item);
            }
            say(&format!(
                "dialling {} ({})",
                short_id(&item.id),
                clean(&item.phone_number)
            ))
        }
    }
}

fn initiate(a: &QueueAddArgs) -> InitiateRequest {
    InitiateRequest {
        lead_id: None,
        lead_name: a.name.clone(),
        phone_number: a.number.clone(),
        campaign_id: a.campaign.clone(),
        script: a.script.clone(),
        agent_settings: serde_json::Value::Null,
        scheduled_at: a.at,
        time_zone: None,
    }
}

fn queue_table(items: &[QueueItem]) -> Table {
    let rows = items
        .iter()
        .map(|i| {
            vec![
                Cell::from(short_id(&i.id)),
                Cell::from(clean(&i.phone_number)),
                Cell::from(or_dash(i.lead.name.as_deref())),
                Cell::from(or_dash(i.campaign.as_deref())),
                Cell::from(
                    serde_json::to_value(i.state)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                ),
                Cell::from(i.scheduled_at.map_or("now".into(), local_datetime)),
                Cell::from(i.attempts.to_string()),
                Cell::from(or_dash(i.last_result.as_deref())),
            ]
        })
        .collect();
    Table {
        headers: vec![
            "ID", "NUMBER", "NAME", "CAMPAIGN", "STATE", "WHEN", "ATTEMPTS", "LAST",
        ],
        rows,
        flex: 7,
    }
}
