//! The voicemail prompts: every name the IVR machines play, with the exact sentence spoken.
//! `prompts/generate.sh` (media) turns this table into `prompts/<name>.wav`; an operator may
//! replace any of them with their own recording of the same name. `@beep` is a tone, not
//! speech.
//!
//! Numbers are spoken with the `n-*` prompts ([`number`]), digit strings one digit at a
//! time ([`digits`]).

/// `(name, text)` of every prompt.
pub const PROMPTS: &[(&str, &str)] = &[
    ("beep", "@beep"),
    (
        "vm-unavailable",
        "The person you are calling is not available. Please leave a message after the tone. \
         Press pound when you are finished.",
    ),
    ("vm-message-saved", "Your message has been saved."),
    (
        "vm-too-short",
        "Your message was too short and has not been saved.",
    ),
    ("vm-goodbye", "Goodbye."),
    ("vm-error", "Sorry, something went wrong."),
    (
        "vm-enter-pin",
        "Please enter your PIN, followed by the pound key.",
    ),
    ("vm-pin-wrong", "That PIN is not correct."),
    ("vm-you-have", "You have"),
    ("vm-new-messages", "new messages"),
    ("vm-and", "and"),
    ("vm-saved-messages", "saved messages."),
    (
        "vm-main-menu",
        "Press 1 to hear your new messages, 2 for your saved messages, 3 to record your \
         greeting, or pound to hang up.",
    ),
    ("vm-invalid", "That is not a valid option."),
    ("vm-no-messages", "There are no messages in this folder."),
    ("vm-message", "Message"),
    ("vm-from", "from"),
    (
        "vm-message-options",
        "Press 4 to replay, 6 for the next message, 7 to delete, 9 to save, or pound for the \
         main menu.",
    ),
    ("vm-deleted", "Message deleted."),
    ("vm-saved", "Message saved."),
    ("vm-no-more", "There are no more messages."),
    (
        "vm-record-greeting",
        "Record your greeting after the tone. Press pound when you are finished.",
    ),
    ("vm-greeting-saved", "Your greeting has been saved."),
    ("n-0", "zero"),
    ("n-1", "one"),
    ("n-2", "two"),
    ("n-3", "three"),
    ("n-4", "four"),
    ("n-5", "five"),
    ("n-6", "six"),
    ("n-7", "seven"),
    ("n-8", "eight"),
    ("n-9", "nine"),
    ("n-10", "ten"),
    ("n-11", "eleven"),
    ("n-12", "twelve"),
    ("n-13", "thirteen"),
    ("n-14", "fourteen"),
    ("n-15", "fifteen"),
    ("n-16", "sixteen"),
    ("n-17", "seventeen"),
    ("n-18", "eighteen"),
    ("n-19", "nineteen"),
    ("n-20", "twenty"),
    ("n-30", "thirty"),
    ("n-40", "forty"),
    ("n-50", "fifty"),
    ("n-60", "sixty"),
    ("n-70", "seventy"),
    ("n-80", "eighty"),
    ("n-90", "ninety"),
    ("n-hundred", "hundred"),
    ("n-thousand", "thousand"),
    ("n-star", "star"),
    ("n-pound", "pound"),
];

const ONES: [&str; 20] = [
    "n-0", "n-1", "n-2", "n-3", "n-4", "n-5", "n-6", "n-7", "n-8", "n-9", "n-10", "n-11", "n-12",
    "n-13", "n-14", "n-15", "n-16", "n-17", "n-18", "n-19",
];
const TENS: [&str; 10] = [
    "n-0", "n-10", "n-20", "n-30", "n-40", "n-50", "n-60", "n-70", "n-80", "n-90",
];

/// The prompts that speak `n` ("three hundred forty two"); numbers from a million up are
/// spoken digit by digit.
pub fn number(n: u32) -> Vec<&'static str> {
    if n >= 1_000_000 {
        return digits(&n.to_string());
    }
    let mut out = Vec::new();
    let (thousands, rest) = (n / 1000, n % 1000);
    if thousands > 0 {
        below_thousand(thousands, &mut out);
        out.push("n-thousand");
    }
    if rest > 0 || n == 0 {
        below_thousand(rest, &mut out);
    }
    out
}

fn below_thousand(n: u32, out: &mut Vec<&'static str>) {
    let (hundreds, rest) = (n / 100, n % 100);
    if hundreds > 0 {
        out.extend(ONES.get(hundreds as usize).copied());
        out.push("n-hundred");
        if rest == 0 {
            return;
        }
    }
    if rest < 20 {
        out.extend(ONES.get(rest as usize).copied());
    } else {
        out.extend(TENS.get((rest / 10) as usize).copied());
        if rest % 10 > 0 {
            out.extend(ONES.get((rest % 10) as usize).copied());
        }
    }
}

/// The prompts that speak a dialled string digit by digit (other characters are skipped).
pub fn digits(s: &str) -> Vec<&'static str> {
    s.chars()
        .filter_map(|c| match c {
            '*' => Some("n-star"),
            '#' => Some("n-pound"),
            c => c.to_digit(10).and_then(|d| ONES.get(d as usize).copied()),
        })
        .collect()
}

/// True if `name` is a prompt of [`PROMPTS`].
pub fn exists(name: &str) -> bool {
    PROMPTS.iter().any(|(n, _)| *n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_spoken_with_known_prompts() {
        assert_eq!(number(0), ["n-0"]);
        assert_eq!(number(7), ["n-7"]);
        assert_eq!(number(42), ["n-40", "n-2"]);
        assert_eq!(number(300), ["n-3", "n-hundred"]);
        assert_eq!(number(2019), ["n-2", "n-thousand", "n-19"]);
        assert_eq!(digits("1*0#"), ["n-1", "n-star", "n-0", "n-pound"]);
        for n in (0..3000).chain([999_999, 1_234_567]) {
            for p in number(n) {
                assert!(exists(p), "{p}");
            }
        }
        let mut names: Vec<&str> = PROMPTS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PROMPTS.len(), "duplicate prompt names");
    }
}
