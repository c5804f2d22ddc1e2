//! Storage and crash-repair tests on a real file tree and database, and an IVR deposit and
//! mailbox walk through `IvrCall`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use store::NewVm;

use super::ivr::{Clip, Input, Media};
use super::*;
use crate::bus::BusEvent;

const BOB: &str = "bob@example.com";
const ALICE: &str = "alice@example.com";

async fn setup(dir: &Path) -> (Store, Bus, Voicemail) {
    let store = Store::open(&dir.join("db")).await.unwrap();
    store.add_domain("example.com").await.unwrap();
    for u in ["alice", "bob"] {
        store.add_user("example.com", u, "pw").await.unwrap();
    }
    let bus = Bus::new(1024);
    let mut cfg = VoicemailConfig::new(dir.join("vm"));
    cfg.default_pin = Some("4321".into());
    let vm = Voicemail::start(store.clone(), bus.clone(), cfg)
        .await
        .unwrap();
    (store, bus, vm)
}

fn tone(seconds: u32) -> Vec<u8> {
    let samples: Vec<i16> = (0..8000 * seconds)
        .map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16)
        .collect();
    wav::pcm16(8000, &samples)
}

fn wav_files(vm: &Voicemail, aor: &str) -> usize {
    std::fs::read_dir(vm.layout().mailbox(aor))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("msg-"))
                .count()
        })
        .unwrap_or(0)
}

async fn assert_consistent(vm: &Voicemail) {
    let r = vm.integrity_check().await.unwrap();
    assert!(r.ok(true), "{r:?}");
    for aor in [ALICE, BOB] {
        let (new, old) = vm.counts(aor).await.unwrap();
        assert_eq!((new + old) as usize, wav_files(vm, aor), "{aor}");
    }
}

#[tokio::test]
async fn store_list_mark_save_subject_forward_delete() {
    let dir = tempfile::tempdir().unwrap();
    let (_, bus, vm) = setup(dir.path()).await;
    let mut rx = bus.subscribe();
    let id = vm
        .store_audio(
            BOB,
            ALICE,
            BOB,
            "hello",
            "send",
            ops::Audio::Bytes(&tone(2)),
        )
        .await
        .unwrap();
    let m = vm.message(BOB, id).await.unwrap();
    assert_eq!(
        (m.duration_ms, m.heard, m.folder),
        (2000, false, Folder::New)
    );
    assert!(m.path.exists());
    assert_eq!(vm.counts(BOB).await.unwrap(), (1, 0));
    let changed = loop {
        if let BusEvent::VoicemailChanged { aor, new, old } = rx.recv().await.unwrap() {
            break (aor, new, old);
        }
    };
    assert_eq!(changed, (BOB.to_owned(), 1, 0));

    assert!(vm.mark(BOB, id, true).await.unwrap().heard);
    assert_eq!(vm.counts(BOB).await.unwrap(), (0, 1));
    assert_eq!(vm.save(BOB, id).await.unwrap().folder, Folder::Saved);
    assert_eq!(vm.list(BOB, Some(Folder::New)).await.unwrap().len(), 0);
    assert_eq!(vm.set_subject(BOB, id, "x").await.unwrap().subject, "x");
    assert!(vm.mark(ALICE, id, true).await.is_err(), "not alice's");

    let copy = vm.forward(BOB, id, ALICE).await.unwrap();
    let c = vm.message(ALICE, copy).await.unwrap();
    assert_eq!((c.caller.as_str(), c.origin.as_str()), (ALICE, "forward"));
    assert_eq!(
        std::fs::read(&c.path).unwrap(),
        std::fs::read(&m.path).unwrap()
    );

    vm.delete(BOB, id).await.unwrap();
    assert!(!m.path.exists());
    assert!(matches!(
        vm.delete(BOB, id).await,
        Err(VmError::NoSuchMessage(_))
    ));
    assert_consistent(&vm).await;

    // Audio that is not a WAV, too short, or too long is refused before anything is stored.
    let short = ops::Audio::Bytes(&tone(0));
    assert!(matches!(
        vm.store_audio(BOB, ALICE, BOB, "", "send", short).await,
        Err(VmError::BadLength(..))
    ));
    let junk = ops::Audio::Bytes(b"RIFFxxxx");
    assert!(
        vm.store_audio(BOB, ALICE, BOB, "", "send", junk)
            .await
            .is_err()
    );
    assert!(vm.integrity_check().await.unwrap().ok(true));
}

#[tokio::test]
async fn pins_and_greetings() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, vm) = setup(dir.path()).await;
    assert!(vm.verify_pin(BOB, "4321").await.unwrap(), "default PIN");
    vm.set_pin(BOB, "2468").await.unwrap();
    assert!(!vm.verify_pin(BOB, "4321").await.unwrap());
    assert!(vm.verify_pin(BOB, "2468").await.unwrap());
    assert!(vm.set_pin(BOB, "12").await.is_err());
    assert_eq!(vm.greeting(BOB).await, None);
    vm.set_greeting(BOB, Some(&tone(2))).await.unwrap();
    assert_eq!(vm.greeting(BOB).await, Some(vm.layout().greeting(BOB)));
    vm.set_greeting(BOB, None).await.unwrap();
    assert_eq!(vm.greeting(BOB).await, None);
}

/// Leaves the state a crash at each step of each protocol would leave, restarts, and
/// checks the repair.
#[tokio::test]
async fn reconcile_repairs_every_crash_point() {
    let dir = tempfile::tempdir().unwrap();
    let (store, bus, vm) = setup(dir.path()).await;
    let layout = vm.layout().clone();
    let keep = vm
        .store_audio(BOB, ALICE, BOB, "", "send", ops::Audio::Bytes(&tone(2)))
        .await
        .unwrap();
    let pending = |store: Store| async move {
        let m = NewVm {
            mailbox: BOB,
            caller: ALICE,
            called: BOB,
            received_at: 1,
            subject: "",
            origin: "call",
        };
        store.vm_insert_pending(&m).await.unwrap()
    };
    // 1. Killed while recording: pending row and a half-written part.
    let a = pending(store.clone()).await;
    std::fs::write(layout.part(BOB, a), &tone(3)[..3000]).unwrap();
    // 2. Killed after the rename, before the commit: adopted.
    let b = pending(store.clone()).await;
    std::fs::write(layout.message(BOB, b), tone(2)).unwrap();
    // 3. Killed after the row was inserted, before any audio.
    let c = pending(store.clone()).await;
    // 6. Killed while recording after 1.5 s reached the disk (sizes never written): the
    //    deposit keeps what was said. A cut upload of the same shape is not kept.
    let mut cut = tone(2);
    cut.truncate(44 + 24_001);
    cut[4..8].copy_from_slice(&0u32.to_le_bytes());
    cut[40..44].copy_from_slice(&0u32.to_le_bytes());
    let g = pending(store.clone()).await;
    std::fs::write(layout.part(BOB, g), &cut).unwrap();
    let upload = NewVm {
        mailbox: BOB,
        caller: ALICE,
        called: BOB,
        received_at: 1,
        subject: "",
        origin: "send",
    };
    let h = store.vm_insert_pending(&upload).await.unwrap();
    std::fs::write(layout.part(BOB, h), &cut).unwrap();
    // 4. Killed in the middle of a delete (row marked, file still there / already gone).
    let d = vm
        .store_audio(BOB, ALICE, BOB, "", "send", ops::Audio::Bytes(&tone(2)))
        .await
        .unwrap();
    assert!(store.vm_mark_deleting(BOB, d.0).await.unwrap());
    let e = vm
        .store_audio(BOB, ALICE, BOB, "", "send", ops::Audio::Bytes(&tone(2)))
        .await
        .unwrap();
    assert!(store.vm_mark_deleting(BOB, e.0).await.unwrap());
    std::fs::remove_file(layout.message(BOB, e.0)).unwrap();
    // 5. A file lost under a ready row, a file without any row, a stray part.
    let f = vm
        .store_audio(ALICE, BOB, ALICE, "", "send", ops::Audio::Bytes(&tone(2)))
        .await
        .unwrap();
    std::fs::remove_file(layout.message(ALICE, f.0)).unwrap();
    std::fs::write(layout.message(ALICE, 999), tone(2)).unwrap();
    std::fs::create_dir_all(layout.tmp(ALICE)).unwrap();
    std::fs::write(layout.tmp(ALICE).join("77.part"), b"x").unwrap();
    std::fs::write(layout.greeting_part(ALICE), b"x").unwrap();

    let before = vm.integrity_check().await.unwrap();
    assert!(!before.ok(true));
    assert_eq!(
        (
            before.pending_rows,
            before.deleting_rows,
            before.missing_files,
            before.orphan_files,
            before.part_files
        ),
        (5, 2, 1, 2, 5),
        "{before:?}"
    );
    drop(vm);

    // The restart.
    let cfg = VoicemailConfig::new(dir.path().join("vm"));
    let vm = Voicemail::start(store.clone(), bus, cfg).await.unwrap();
    assert_consistent(&vm).await;
    let ids: Vec<i64> = vm
        .list(BOB, None)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id.0)
        .collect();
    assert_eq!(
        ids,
        [keep.0, b, g],
        "the renamed recording and the interrupted deposit were adopted"
    );
    assert_eq!(
        vm.message(BOB, MessageId(b)).await.unwrap().duration_ms,
        2000
    );
    let salvaged = vm.message(BOB, MessageId(g)).await.unwrap();
    assert_eq!(salvaged.duration_ms, 1500);
    let bytes = std::fs::read(&salvaged.path).unwrap();
    assert_eq!(bytes.len(), 44 + 24_000, "cut to whole samples");
    assert_eq!(
        wav::parse(&bytes, bytes.len() as u64).unwrap().data_len,
        24_000
    );
    assert_eq!(
        &bytes[44..],
        &tone(2)[44..44 + 24_000],
        "the audio is intact"
    );
    assert!(vm.list(ALICE, None).await.unwrap().is_empty());
    for id in [a, c, d.0, e.0, h] {
        assert!(vm.message(BOB, MessageId(id)).await.is_err());
    }
    assert!(
        store
            .vm_all_rows()
            .await
            .unwrap()
            .iter()
            .all(|r| r.state == "ready")
    );
}

/// A caller leaves a message through the deposit IVR; the owner hears and deletes it
/// through the access IVR. The recorder is simulated by writing the WAV it would write.
#[tokio::test]
async fn ivr_calls_deposit_then_access() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, vm) = setup(dir.path()).await;
    let mut call = vm
        .deposit_call(BOB, "sip:1001@example.com", "bob")
        .await
        .unwrap();
    let first = call.start().await;
    assert_eq!(
        first,
        [Media::Play(vec![
            Clip::Prompt("vm-unavailable"),
            Clip::Prompt("beep")
        ])]
    );
    let out = call.input(Input::PlayDone).await;
    let [Media::Record { path, .. }] = &out[..] else {
        panic!("{out:?}")
    };
    std::fs::write(path, tone(2)).unwrap();
    assert_eq!(
        vm.counts(BOB).await.unwrap(),
        (0, 0),
        "not before it is stored"
    );
    call.input(Input::HangUp).await;
    let out = call
        .input(Input::RecordDone {
            duration: Duration::from_secs(2),
        })
        .await;
    assert!(out.is_empty());
    assert!(call.is_done());
    assert_eq!(vm.counts(BOB).await.unwrap(), (1, 0));
    let msg = vm.list(BOB, None).await.unwrap().remove(0);
    assert_eq!(
        (msg.caller.as_str(), msg.called.as_str()),
        ("sip:1001@example.com", "bob")
    );

    let mut call = vm.access_call(BOB).await.unwrap();
    call.start().await;
    for d in "4321".chars() {
        call.input(Input::Digit(d)).await;
    }
    let out = call.input(Input::Digit('#')).await;
    // Numbers are expanded to prompts for the media side.
    let Media::Play(clips) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        clips[..3],
        [
            Clip::Prompt("vm-you-have"),
            Clip::Prompt("n-1"),
            Clip::Prompt("vm-new-messages")
        ]
    );
    let out = call.input(Input::Digit('1')).await;
    let Some(Media::Play(clips)) = out.iter().find(|m| matches!(m, Media::Play(_))) else {
        panic!("{out:?}")
    };
    assert!(clips.contains(&Clip::File(msg.path.clone())));
    assert!(clips.contains(&Clip::Prompt("vm-from")), "1001 is a number");
    call.input(Input::PlayDone).await;
    assert_eq!(vm.counts(BOB).await.unwrap(), (0, 1), "heard");
    call.input(Input::Digit('7')).await;
    assert_eq!(vm.counts(BOB).await.unwrap(), (0, 0), "deleted");
    assert!(!msg.path.exists());
    assert_consistent(&vm).await;
}

#[tokio::test]
async fn a_too_short_deposit_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, vm) = setup(dir.path()).await;
    let rec = vm.begin_deposit(BOB, ALICE, "bob").await.unwrap();
    std::fs::write(&rec.path, wav::pcm16(8000, &[0; 4000])).unwrap();
    assert_eq!(vm.finish_deposit(rec.clone(), true).await.unwrap(), None);
    assert!(!rec.path.exists());
    assert!(store.vm_all_rows().await.unwrap().is_empty());
    assert_consistent(&vm).await;
}
