create database apicurio;
