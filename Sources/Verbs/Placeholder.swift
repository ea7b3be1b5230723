public enum VerbsPlaceholder {}
