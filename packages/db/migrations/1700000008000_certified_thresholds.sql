-- Up Migration
-- A routing policy with a target accuracy lets a model version decide a class only above the
-- confidence threshold that labels it never learned from certify for that target. The thresholds
-- belong to the version: certified when it is trained, stored with it, so that promoting it
-- changes the model and its thresholds in one step. held_out keeps what they rest on (each
-- held-out example's predicted class, confidence and whether it was right), so they can be
-- certified again for another target or confidence level without the labels.
ALTER TABLE model_versions
  ADD COLUMN thresholds jsonb CHECK (thresholds IS NULL OR jsonb_typeof(thresholds) = 'object'),
  ADD COLUMN held_out jsonb CHECK (held_out IS NULL OR jsonb_typeof(held_out) = 'object');

-- Why the labelled event went to people, and what the model had predicted: the audit sample's
-- labels keep checking a promoted version's certified thresholds on traffic after promotion.
ALTER TABLE labelled_examples
  ADD COLUMN review_reason text,
  ADD COLUMN model_prediction jsonb
    CHECK (model_prediction IS NULL OR jsonb_typeof(model_prediction) = 'object');

-- Down Migration
ALTER TABLE labelled_examples DROP COLUMN model_prediction, DROP COLUMN review_reason;
ALTER TABLE model_versions DROP COLUMN held_out, DROP COLUMN thresholds;
