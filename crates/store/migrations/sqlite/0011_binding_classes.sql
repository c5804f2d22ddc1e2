-- The service classes (voice, video, im) a registered device declared with RFC 3840 feature
-- tags, comma-separated; NULL when unknown (rows written before this migration), which the
-- SIP face reads as its default (voice + IM).
ALTER TABLE bindings ADD COLUMN classes TEXT;
