-- Up Migration
-- A calibration temperature kept with a version whose ONNX file does not include one (an imported
-- model): inference applies softmax(log p / temperature) to what the file gives. The trainer's own
-- versions have their temperature folded into their weights and leave this null.
ALTER TABLE model_versions
  ADD COLUMN temperature float8 CHECK (temperature IS NULL OR (temperature > 0 AND temperature < 'infinity'));

-- Down Migration
ALTER TABLE model_versions DROP COLUMN temperature;
