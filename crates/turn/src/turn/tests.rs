//! Scenario tests of the TURN client against a scripted server.
