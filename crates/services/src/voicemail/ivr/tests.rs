//! Menu walks through both machines, input by input.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::voicemail::{Folder, MessageId};

fn drain(next: &mut dyn FnMut() -> Option<Command>) -> Vec<Command> {
    std::iter::from_fn(next).collect()
}

fn dep(cfg: DepositConfig) -> (Deposit, Vec<Command>) {
    let mut d = Deposit::new(cfg);
    let out = drain(&mut || d.poll_output());
    (d, out)
}

fn feed_d(d: &mut Deposit, i: Input) -> Vec<Command> {
    d.handle_input(i);
    drain(&mut || d.poll_output())
}

fn feed_a(a: &mut Access, i: Input) -> Vec<Command> {
    a.handle_input(i);
    drain(&mut || a.poll_output())
}

fn prompts(cmds: &[Command]) -> Vec<&'static str> {
    cmds.iter()
        .flat_map(|c| match c {
            Command::Media(Media::Play(clips)) => clips
                .iter()
                .filter_map(|c| match c {
                    Clip::Prompt(p) => Some(*p),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn has(cmds: &[Command], want: &Command) -> bool {
    cmds.contains(want)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn deposit_cfg() -> DepositConfig {
    DepositConfig::new(None, PathBuf::from("/vm/tmp/1.part"), secs(120))
}

#[test]
fn deposit_greeting_beep_record_pound_store() {
    let (mut d, out) = dep(deposit_cfg());
    assert_eq!(prompts(&out), ["vm-unavailable", "beep"]);
    let out = feed_d(&mut d, Input::Digit('5'));
    assert!(out.is_empty(), "only # skips the greeting");
    let out = feed_d(&mut d, Input::PlayDone);
    let rec = Command::Media(Media::Record {
        path: PathBuf::from("/vm/tmp/1.part"),
        max: secs(120),
    });
    assert_eq!(out, [rec]);
    let out = feed_d(&mut d, Input::Digit('#'));
    assert_eq!(out, [Command::Media(Media::StopRecord)]);
    let out = feed_d(&mut d, Input::RecordDone { duration: secs(5) });
    assert_eq!(
        out,
        [Command::Service(Service::StoreMessage {
            duration: secs(5)
        })]
    );
    let out = feed_d(&mut d, Input::Stored(Some(MessageId(1))));
    assert_eq!(prompts(&out), ["vm-message-saved", "vm-goodbye"]);
    assert!(!d.is_done());
    let out = feed_d(&mut d, Input::PlayDone);
    assert_eq!(out, [Command::Media(Media::HangUp)]);
    assert!(d.is_done());
}

#[test]
fn deposit_personal_greeting_skipped_with_pound() {
    let mut cfg = deposit_cfg();
    cfg.greeting = Some(PathBuf::from("/vm/greeting.wav"));
    let (mut d, out) = dep(cfg);
    assert_eq!(
        out,
        [Command::Media(Media::Play(vec![
            Clip::File(PathBuf::from("/vm/greeting.wav")),
            Clip::Prompt("beep")
        ]))]
    );
    let out = feed_d(&mut d, Input::Digit('#'));
    assert_eq!(out[0], Command::Media(Media::StopPlay));
    assert!(matches!(out[1], Command::Media(Media::Record { .. })));
}

#[test]
fn deposit_hang_up_keeps_what_was_said() {
    let (mut d, _) = dep(deposit_cfg());
    feed_d(&mut d, Input::PlayDone);
    let out = feed_d(&mut d, Input::HangUp);
    assert_eq!(out, [Command::Media(Media::StopRecord)]);
    let out = feed_d(&mut d, Input::RecordDone { duration: secs(3) });
    assert_eq!(
        out,
        [Command::Service(Service::StoreMessage {
            duration: secs(3)
        })]
    );
    // Nobody is left to hear "saved": no prompt, no hang-up command.
    let out = feed_d(&mut d, Input::Stored(Some(MessageId(9))));
    assert!(out.is_empty());
    assert!(d.is_done());
}

#[test]
fn deposit_too_short_is_discarded_and_max_length_stores() {
    let (mut d, _) = dep(deposit_cfg());
    feed_d(&mut d, Input::PlayDone);
    feed_d(&mut d, Input::Digit('#'));
    let out = feed_d(
        &mut d,
        Input::RecordDone {
            duration: Duration::from_millis(400),
        },
    );
    assert!(has(&out, &Command::Service(Service::Discard)));
    assert_eq!(prompts(&out), ["vm-too-short", "vm-goodbye"]);

    // The recorder stops itself at the maximum: stored without any key.
    let (mut d, _) = dep(deposit_cfg());
    feed_d(&mut d, Input::PlayDone);
    let out = feed_d(
        &mut d,
        Input::RecordDone {
            duration: secs(120),
        },
    );
    assert!(matches!(
        out[..],
        [Command::Service(Service::StoreMessage { .. })]
    ));

    // Hang-up during the greeting: nothing recorded, the pending deposit is dropped.
    let (mut d, _) = dep(deposit_cfg());
    let out = feed_d(&mut d, Input::HangUp);
    assert_eq!(out, [Command::Service(Service::Discard)]);
    assert!(d.is_done());
}

fn access() -> (Access, Vec<Command>) {
    let cfg = AccessConfig::new(PathBuf::from("/vm/tmp/greeting.part"), secs(60));
    let mut a = Access::new(cfg);
    let out = drain(&mut || a.poll_output());
    (a, out)
}

fn enter(a: &mut Access, digits: &str) -> Vec<Command> {
    let mut last = Vec::new();
    for c in digits.chars() {
        last = feed_a(a, Input::Digit(c));
    }
    last
}

fn item(id: i64, caller: &str, heard: bool) -> Item {
    Item {
        id: MessageId(id),
        path: PathBuf::from(format!("/vm/msg-{id}.wav")),
        caller: caller.into(),
        heard,
    }
}

/// PIN accepted, counts announced: the machine waits in the main menu.
fn logged_in() -> Access {
    let (mut a, _) = access();
    let out = enter(&mut a, "1234#");
    assert_eq!(out, [Command::Service(Service::VerifyPin("1234".into()))]);
    let out = feed_a(&mut a, Input::PinChecked(true));
    assert_eq!(out, [Command::Service(Service::Counts)]);
    let out = feed_a(&mut a, Input::Counts { new: 2, saved: 1 });
    assert_eq!(
        out[0],
        Command::Media(Media::Play(vec![
            Clip::Prompt("vm-you-have"),
            Clip::Number(2),
            Clip::Prompt("vm-new-messages"),
            Clip::Prompt("vm-and"),
            Clip::Number(1),
            Clip::Prompt("vm-saved-messages"),
            Clip::Prompt("vm-main-menu"),
        ]))
    );
    a
}

#[test]
fn access_pin_three_tries_then_goodbye() {
    let (mut a, out) = access();
    assert_eq!(prompts(&out), ["vm-enter-pin"]);
    let out = enter(&mut a, "1");
    assert_eq!(out[0], Command::Media(Media::StopPlay), "barge-in");
    let out = enter(&mut a, "11#");
    assert_eq!(out, [Command::Service(Service::VerifyPin("111".into()))]);
    let out = feed_a(&mut a, Input::PinChecked(false));
    assert_eq!(prompts(&out), ["vm-pin-wrong", "vm-enter-pin"]);
    // A silent prompt counts as a try too.
    let out = feed_a(&mut a, Input::Timeout);
    assert_eq!(prompts(&out), ["vm-pin-wrong", "vm-enter-pin"]);
    enter(&mut a, "9*");
    let out = enter(&mut a, "99#");
    assert_eq!(out, [Command::Service(Service::VerifyPin("99".into()))]);
    let out = feed_a(&mut a, Input::PinChecked(false));
    assert_eq!(prompts(&out), ["vm-pin-wrong", "vm-goodbye"]);
    let out = feed_a(&mut a, Input::PlayDone);
    assert_eq!(out, [Command::Media(Media::HangUp)]);
    assert!(a.is_done());
}

#[test]
fn access_plays_new_messages_with_delete_save_repeat_skip() {
    let mut a = logged_in();
    let out = feed_a(&mut a, Input::Digit('1'));
    assert_eq!(
        out,
        [
            Command::Media(Media::StopPlay),
            Command::Service(Service::List(Folder::New))
        ]
    );
    let out = feed_a(
        &mut a,
        Input::Listed(vec![
            item(1, "sip:+3212345@x", false),
            item(2, "sip:alice@x", false),
            item(3, "1001", true),
        ]),
    );
    let Command::Media(Media::Play(clips)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        clips,
        &[
            Clip::Prompt("vm-message"),
            Clip::Number(1),
            Clip::Prompt("vm-from"),
            Clip::Digits("3212345".into()),
            Clip::File(PathBuf::from("/vm/msg-1.wav")),
            Clip::Prompt("vm-message-options"),
        ]
    );
    // Played to the end: heard.
    let out = feed_a(&mut a, Input::PlayDone);
    assert_eq!(out, [Command::Service(Service::MarkHeard(MessageId(1)))]);
    // 4 replays; finishing again does not mark twice.
    let out = feed_a(&mut a, Input::Digit('4'));
    assert!(
        matches!(&out[1], Command::Media(Media::Play(c)) if c.contains(&Clip::File(PathBuf::from("/vm/msg-1.wav"))))
    );
    assert!(feed_a(&mut a, Input::PlayDone).is_empty());
    // 7 deletes and moves on to message 2 (a name: no "from").
    let out = feed_a(&mut a, Input::Digit('7'));
    assert_eq!(out[1], Command::Service(Service::Delete(MessageId(1))));
    let Command::Media(Media::Play(clips)) = &out[2] else {
        panic!("{out:?}")
    };
    assert_eq!(clips[0], Clip::Prompt("vm-deleted"));
    assert_eq!(clips[2], Clip::Number(2));
    assert!(!clips.contains(&Clip::Prompt("vm-from")));
    // 9 saves message 2.
    let out = feed_a(&mut a, Input::Digit('9'));
    assert_eq!(out[1], Command::Service(Service::Save(MessageId(2))));
    assert_eq!(prompts(&out)[0], "vm-saved");
    // 6 skips message 3 (already heard: nothing to mark) → end of list, main menu.
    let out = feed_a(&mut a, Input::Digit('6'));
    assert!(!out.iter().any(|c| matches!(c, Command::Service(_))));
    assert_eq!(prompts(&out), ["vm-no-more", "vm-main-menu"]);
    // # hangs up from the main menu.
    let out = feed_a(&mut a, Input::Digit('#'));
    assert_eq!(prompts(&out), ["vm-goodbye"]);
    feed_a(&mut a, Input::PlayDone);
    assert!(a.is_done());
}

#[test]
fn access_skip_marks_new_heard_and_pound_returns_to_menu() {
    let mut a = logged_in();
    feed_a(&mut a, Input::Digit('1'));
    feed_a(
        &mut a,
        Input::Listed(vec![item(5, "x", false), item(6, "y", false)]),
    );
    let out = feed_a(&mut a, Input::Digit('6'));
    assert_eq!(out[1], Command::Service(Service::MarkHeard(MessageId(5))));
    // A timeout after a message moves on as well.
    let out = feed_a(&mut a, Input::Timeout);
    assert_eq!(out[1], Command::Service(Service::MarkHeard(MessageId(6))));
    assert_eq!(prompts(&out), ["vm-no-more", "vm-main-menu"]);
    // Saved folder, empty.
    feed_a(&mut a, Input::Digit('2'));
    let out = feed_a(&mut a, Input::Listed(vec![]));
    assert_eq!(prompts(&out), ["vm-no-messages", "vm-main-menu"]);
    // Saved folder, # during playback goes back to the counts and menu.
    feed_a(&mut a, Input::Digit('2'));
    feed_a(&mut a, Input::Listed(vec![item(7, "z", true)]));
    let out = feed_a(&mut a, Input::Digit('#'));
    assert_eq!(out[1], Command::Service(Service::Counts));
}

#[test]
fn access_menu_invalid_and_timeouts() {
    let mut a = logged_in();
    let out = feed_a(&mut a, Input::Digit('8'));
    assert_eq!(prompts(&out), ["vm-invalid", "vm-main-menu"]);
    assert_eq!(prompts(&feed_a(&mut a, Input::Timeout)), ["vm-main-menu"]);
    assert_eq!(prompts(&feed_a(&mut a, Input::Timeout)), ["vm-main-menu"]);
    assert_eq!(prompts(&feed_a(&mut a, Input::Timeout)), ["vm-goodbye"]);
}

#[test]
fn access_records_greeting() {
    let mut a = logged_in();
    let out = feed_a(&mut a, Input::Digit('3'));
    assert_eq!(prompts(&out), ["vm-record-greeting", "beep"]);
    let out = feed_a(&mut a, Input::PlayDone);
    assert!(has(
        &out,
        &Command::Media(Media::Record {
            path: PathBuf::from("/vm/tmp/greeting.part"),
            max: secs(60)
        })
    ));
    assert_eq!(
        feed_a(&mut a, Input::Digit('#')),
        [Command::Media(Media::StopRecord)]
    );
    let out = feed_a(&mut a, Input::RecordDone { duration: secs(4) });
    assert_eq!(
        out,
        [Command::Service(Service::StoreGreeting {
            duration: secs(4)
        })]
    );
    let out = feed_a(&mut a, Input::GreetingStored);
    assert_eq!(prompts(&out), ["vm-greeting-saved", "vm-main-menu"]);

    // Hanging up while recording a greeting does not keep it.
    feed_a(&mut a, Input::Digit('3'));
    feed_a(&mut a, Input::PlayDone);
    assert_eq!(
        feed_a(&mut a, Input::HangUp),
        [Command::Media(Media::StopRecord)]
    );
    let out = feed_a(&mut a, Input::RecordDone { duration: secs(4) });
    assert_eq!(out, [Command::Service(Service::DiscardGreeting)]);
    assert!(a.is_done());
}

#[test]
fn every_prompt_the_machines_play_exists() {
    for name in [
        "vm-unavailable",
        "beep",
        "vm-message-saved",
        "vm-too-short",
        "vm-goodbye",
        "vm-error",
        "vm-enter-pin",
        "vm-pin-wrong",
        "vm-you-have",
        "vm-new-messages",
        "vm-and",
        "vm-saved-messages",
        "vm-main-menu",
        "vm-invalid",
        "vm-no-messages",
        "vm-message",
        "vm-from",
        "vm-message-options",
        "vm-deleted",
        "vm-saved",
        "vm-no-more",
        "vm-record-greeting",
        "vm-greeting-saved",
    ] {
        assert!(crate::voicemail::prompts::exists(name), "{name}");
    }
    let src = [include_str!("deposit.rs"), include_str!("access.rs")].concat();
    for (i, _) in src.match_indices("\"vm-") {
        let name: String = src[i + 1..].chars().take_while(|c| *c != '"').collect();
        assert!(crate::voicemail::prompts::exists(&name), "{name}");
    }
}
