-- Up Migration
-- How sure a labelled example's current label is: the posterior probability that weighted
-- consensus gave it (the correction's confidence), which weighs the example in training. Null: a
-- label that came without one (a majority, or an admin), trained on with full weight.
ALTER TABLE labelled_examples
  ADD COLUMN confidence float8 CHECK (confidence IS NULL OR (confidence > 0 AND confidence <= 1));

-- Down Migration
ALTER TABLE labelled_examples DROP COLUMN confidence;
